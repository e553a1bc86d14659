import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The relay's deaths beside the workers': `worker_exits` by role (the relay's rows have no monitor), so that
 * every API replica counts the same deaths for the one crash-loop rule. Reviewed by hand.
 */
export class WorkerExitsRole1765180000000 implements MigrationInterface {
  name = 'WorkerExitsRole1765180000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "worker_exits" ADD "role" character varying(16) NOT NULL DEFAULT 'worker'`,
    );
    await queryRunner.query(`ALTER TABLE "worker_exits" ALTER COLUMN "monitor_id" DROP NOT NULL`);
    await queryRunner.query(
      `CREATE INDEX "worker_exits_role_exited_idx" ON "worker_exits" ("role", "exited_at")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "worker_exits_role_exited_idx"`);
    await queryRunner.query(`DELETE FROM "worker_exits" WHERE "monitor_id" IS NULL`);
    await queryRunner.query(`ALTER TABLE "worker_exits" ALTER COLUMN "monitor_id" SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE "worker_exits" DROP COLUMN "role"`);
  }
}
