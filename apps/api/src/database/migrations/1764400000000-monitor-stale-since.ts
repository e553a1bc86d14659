import { MigrationInterface, QueryRunner } from 'typeorm';

/** When a running monitor's worker report expired: the open stale episode, announced once. Reviewed by hand. */
export class MonitorStaleSince1764400000000 implements MigrationInterface {
  name = 'MonitorStaleSince1764400000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "monitors" ADD "stale_since" TIMESTAMP WITH TIME ZONE`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "monitors" DROP COLUMN "stale_since"`);
  }
}
