import { MigrationInterface, QueryRunner } from 'typeorm';

/** monitors and alerts, as the contract's Storage section describes them. Reviewed by hand. */
export class InitialSchema1764000000000 implements MigrationInterface {
  name = 'InitialSchema1764000000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "monitors" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "pair" character varying(25) NOT NULL,
        "interval_ms" integer NOT NULL,
        "threshold_percent" numeric NOT NULL,
        "price_field" character varying(3) NOT NULL,
        "direction" character varying(4) NOT NULL,
        "cooldown_ms" integer NOT NULL,
        "status" character varying(16) NOT NULL,
        "reason" text,
        "worker_id" character varying(128),
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "stopped_at" TIMESTAMP WITH TIME ZONE,
        CONSTRAINT "PK_monitors" PRIMARY KEY ("id"),
        CONSTRAINT "monitors_status_ck" CHECK ("status" IN ('starting', 'running', 'stopped', 'failed')),
        CONSTRAINT "monitors_price_field_ck" CHECK ("price_field" IN ('ask', 'bid', 'mid')),
        CONSTRAINT "monitors_direction_ck" CHECK ("direction" IN ('both', 'up', 'down')),
        CONSTRAINT "monitors_threshold_ck" CHECK ("threshold_percent" > 0),
        CONSTRAINT "monitors_interval_ck" CHECK ("interval_ms" >= 1000)
      )`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX "monitors_active_pair_uq" ON "monitors" ("pair") WHERE status IN ('starting', 'running')`,
    );
    await queryRunner.query(`CREATE INDEX "monitors_status_idx" ON "monitors" ("status")`);

    await queryRunner.query(`
      CREATE TABLE "alerts" (
        "id" uuid NOT NULL,
        "monitor_id" uuid NOT NULL,
        "pair" character varying(25) NOT NULL,
        "direction" character varying(4) NOT NULL,
        "price_field" character varying(3) NOT NULL,
        "reference_price" numeric NOT NULL,
        "price" numeric NOT NULL,
        "change_percent" numeric NOT NULL,
        "threshold_percent" numeric NOT NULL,
        "interval_ms" integer NOT NULL,
        "observed_at" TIMESTAMP WITH TIME ZONE NOT NULL,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "PK_alerts" PRIMARY KEY ("id")
      )`);
    await queryRunner.query(
      `CREATE INDEX "alerts_pair_observed_idx" ON "alerts" ("pair", "observed_at" DESC, "id" DESC)`,
    );
    await queryRunner.query(
      `CREATE INDEX "alerts_monitor_observed_idx" ON "alerts" ("monitor_id", "observed_at" DESC, "id" DESC)`,
    );
    await queryRunner.query(`CREATE INDEX "alerts_observed_idx" ON "alerts" ("observed_at" DESC, "id" DESC)`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "alerts"`);
    await queryRunner.query(`DROP TABLE "monitors"`);
  }
}
