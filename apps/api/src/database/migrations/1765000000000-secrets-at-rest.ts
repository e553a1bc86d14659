import { MigrationInterface, QueryRunner } from 'typeorm';
import { SecretBox } from '../../common/secret-box';
import { secretBoxForMigrations } from '../migration-secrets';

interface SecretRow {
  id: string;
  secret: string;
  previous_secret: string | null;
}

/**
 * Secrets at rest: webhook signing secrets become AES-256-GCM sealed text (SECRETS_KEY). Rows written in plain
 * text before are sealed here, in the migration's transaction; a database without any needs no key to migrate.
 */
export class SecretsAtRest1765000000000 implements MigrationInterface {
  name = 'SecretsAtRest1765000000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "webhooks" ALTER COLUMN "secret" TYPE text`);
    await queryRunner.query(`ALTER TABLE "webhooks" ALTER COLUMN "previous_secret" TYPE text`);
    const plain = (await queryRunner.query(
      `SELECT id, secret, previous_secret FROM "webhooks"
       WHERE secret NOT LIKE 'pw1:%' OR previous_secret NOT LIKE 'pw1:%'`,
    )) as SecretRow[];
    if (plain.length === 0) return;
    const box = secretBoxForMigrations();
    const seal = (value: string | null) =>
      value === null || SecretBox.isSealed(value) ? value : box.seal(value);
    for (const row of plain) {
      await queryRunner.query(`UPDATE "webhooks" SET secret = $2, previous_secret = $3 WHERE id = $1`, [
        row.id,
        seal(row.secret),
        seal(row.previous_secret),
      ]);
    }
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    const sealed = (await queryRunner.query(
      `SELECT id, secret, previous_secret FROM "webhooks" WHERE secret LIKE 'pw1:%' OR previous_secret LIKE 'pw1:%'`,
    )) as SecretRow[];
    if (sealed.length > 0) {
      const box = secretBoxForMigrations();
      const open = (value: string | null) =>
        value !== null && SecretBox.isSealed(value) ? box.open(value) : value;
      for (const row of sealed) {
        await queryRunner.query(`UPDATE "webhooks" SET secret = $2, previous_secret = $3 WHERE id = $1`, [
          row.id,
          open(row.secret),
          open(row.previous_secret),
        ]);
      }
    }
    await queryRunner.query(
      `ALTER TABLE "webhooks" ALTER COLUMN "previous_secret" TYPE character varying(100)`,
    );
    await queryRunner.query(`ALTER TABLE "webhooks" ALTER COLUMN "secret" TYPE character varying(100)`);
  }
}
