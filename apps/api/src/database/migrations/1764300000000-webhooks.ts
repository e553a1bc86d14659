import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhooks and their deliveries (the outbox and the delivery log), with the partial indexes of the
 * dispatcher's due query and of retention, and the log's index. Reviewed by hand.
 */
export class Webhooks1764300000000 implements MigrationInterface {
  name = 'Webhooks1764300000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "webhooks" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "url" character varying(2048) NOT NULL,
        "events" text array NOT NULL,
        "pairs" text array NOT NULL,
        "format" character varying(16) NOT NULL,
        "description" character varying(200),
        "secret" character varying(100) NOT NULL,
        "previous_secret" character varying(100),
        "previous_secret_until" TIMESTAMP WITH TIME ZONE,
        "enabled" boolean NOT NULL DEFAULT true,
        "disabled_reason" text,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "webhooks_format_ck" CHECK ("format" IN ('standard', 'slack', 'discord')),
        CONSTRAINT "PK_webhooks" PRIMARY KEY ("id")
      )`);
    await queryRunner.query(`
      CREATE TABLE "webhook_deliveries" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "webhook_id" uuid NOT NULL,
        "event_type" character varying(32) NOT NULL,
        "event_id" character varying(100) NOT NULL,
        "occurred_at" TIMESTAMP WITH TIME ZONE NOT NULL,
        "payload" jsonb NOT NULL,
        "status" character varying(16) NOT NULL DEFAULT 'pending',
        "attempts" jsonb NOT NULL DEFAULT '[]',
        "next_attempt_at" TIMESTAMP WITH TIME ZONE,
        "last_status" integer,
        "last_error" text,
        "delivered_at" TIMESTAMP WITH TIME ZONE,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "webhook_deliveries_status_ck" CHECK ("status" IN ('pending', 'delivered', 'failed')),
        CONSTRAINT "PK_webhook_deliveries" PRIMARY KEY ("id")
      )`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX "webhook_deliveries_event_uq" ON "webhook_deliveries" ("webhook_id", "event_type", "event_id") `,
    );
    await queryRunner.query(
      `CREATE INDEX "webhook_deliveries_finished_idx" ON "webhook_deliveries" ("created_at") WHERE status <> 'pending'`,
    );
    await queryRunner.query(
      `CREATE INDEX "webhook_deliveries_log_idx" ON "webhook_deliveries" ("webhook_id", "created_at", "id") `,
    );
    await queryRunner.query(
      `CREATE INDEX "webhook_deliveries_due_idx" ON "webhook_deliveries" ("next_attempt_at") WHERE status = 'pending'`,
    );
    await queryRunner.query(
      `ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "FK_webhook_deliveries_webhook" FOREIGN KEY ("webhook_id") REFERENCES "webhooks"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "webhook_deliveries"`);
    await queryRunner.query(`DROP TABLE "webhooks"`);
  }
}
