import { MigrationInterface, QueryRunner } from 'typeorm';

/** Worker deaths for the crash-loop rule, and when a monitor was last put back to work. Reviewed by hand. */
export class WorkerSupervision1764100000000 implements MigrationInterface {
  name = 'WorkerSupervision1764100000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "worker_exits" (
        "key" character varying(300) NOT NULL,
        "monitor_id" uuid NOT NULL,
        "worker_id" character varying(128) NOT NULL,
        "exit_code" integer,
        "log_tail" text NOT NULL,
        "exited_at" TIMESTAMP WITH TIME ZONE NOT NULL,
        "recorded_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "PK_worker_exits" PRIMARY KEY ("key")
      )`);
    await queryRunner.query(
      `CREATE INDEX "worker_exits_monitor_exited_idx" ON "worker_exits" ("monitor_id", "exited_at")`,
    );
    await queryRunner.query(`ALTER TABLE "monitors" ADD "restarted_at" TIMESTAMP WITH TIME ZONE`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "monitors" DROP COLUMN "restarted_at"`);
    await queryRunner.query(`DROP TABLE "worker_exits"`);
  }
}
