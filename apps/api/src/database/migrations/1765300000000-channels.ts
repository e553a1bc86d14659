import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Channels (DESIGN.md "Channels: tell people"): the webhooks table becomes the channels' (its name kept, so
 * /webhooks and its clients are untouched): email, telegram, ntfy and alertmanager types beside the webhook
 * ones; a name, the type's plain config, filters by monitor, kind and direction, and the noise rules (quiet
 * hours, digest window, hourly limit, snooze). Deliveries may be held, carried by a digest (`digest_id`) or
 * suppressed; `released_at` says when the noise rules let one go (the hourly limit counts them).
 */

export class Channels1765300000000 implements MigrationInterface {
  name = 'Channels1765300000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "webhooks" ADD "name" character varying(100)`);
    await queryRunner.query(`ALTER TABLE "webhooks" ADD "config" jsonb NOT NULL DEFAULT '{}'`);
    await queryRunner.query(`ALTER TABLE "webhooks" ADD "monitor_ids" text array NOT NULL DEFAULT '{}'`);
    await queryRunner.query(`ALTER TABLE "webhooks" ADD "kinds" text array NOT NULL DEFAULT '{}'`);
    await queryRunner.query(`ALTER TABLE "webhooks" ADD "directions" text array NOT NULL DEFAULT '{}'`);
    await queryRunner.query(`ALTER TABLE "webhooks" ADD "quiet_hours" jsonb`);
    await queryRunner.query(`ALTER TABLE "webhooks" ADD "digest_window_ms" integer`);
    await queryRunner.query(`ALTER TABLE "webhooks" ADD "max_per_hour" integer`);
    await queryRunner.query(`ALTER TABLE "webhooks" ADD "snoozed_until" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "webhook_deliveries" ADD "digest_id" uuid`);
    await queryRunner.query(`ALTER TABLE "webhook_deliveries" ADD "released_at" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "webhooks" ALTER COLUMN "url" DROP NOT NULL`);
    await queryRunner.query(`ALTER TABLE "webhooks" ALTER COLUMN "secret" DROP NOT NULL`);
    await queryRunner.query(
      `CREATE INDEX "webhook_deliveries_released_idx" ON "webhook_deliveries" ("webhook_id", "released_at") WHERE released_at IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX "webhook_deliveries_held_idx" ON "webhook_deliveries" ("next_attempt_at") WHERE status = 'held'`,
    );
    await queryRunner.query(
      `ALTER TABLE "webhooks" ADD CONSTRAINT "webhooks_max_per_hour_ck" CHECK ("max_per_hour" >= 1)`,
    );
    await queryRunner.query(
      `ALTER TABLE "webhooks" ADD CONSTRAINT "webhooks_digest_ck" CHECK ("digest_window_ms" BETWEEN 1000 AND 3600000)`,
    );
    await queryRunner.query(`ALTER TABLE "webhooks" DROP CONSTRAINT "webhooks_format_ck"`);
    await queryRunner.query(
      `ALTER TABLE "webhooks" ADD CONSTRAINT "webhooks_format_ck" CHECK ("format" IN ('standard', 'slack', 'discord', 'email', 'telegram', 'ntfy', 'alertmanager'))`,
    );
    await queryRunner.query(
      `ALTER TABLE "webhook_deliveries" DROP CONSTRAINT "webhook_deliveries_status_ck"`,
    );
    await queryRunner.query(
      `ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_status_ck" CHECK ("status" IN ('pending', 'delivered', 'failed', 'held', 'digested', 'suppressed'))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    // The rows only channels can hold go first: the old columns and checks cannot take them.
    await queryRunner.query(`DELETE FROM "webhooks" WHERE "format" NOT IN ('standard', 'slack', 'discord')`);
    await queryRunner.query(
      `UPDATE "webhook_deliveries" SET status = 'failed', next_attempt_at = NULL WHERE status NOT IN ('pending', 'delivered', 'failed')`,
    );
    await queryRunner.query(
      `ALTER TABLE "webhook_deliveries" DROP CONSTRAINT "webhook_deliveries_status_ck"`,
    );
    await queryRunner.query(
      `ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_status_ck" CHECK ("status" IN ('pending', 'delivered', 'failed'))`,
    );
    await queryRunner.query(`ALTER TABLE "webhooks" DROP CONSTRAINT "webhooks_format_ck"`);
    await queryRunner.query(
      `ALTER TABLE "webhooks" ADD CONSTRAINT "webhooks_format_ck" CHECK ("format" IN ('standard', 'slack', 'discord'))`,
    );
    await queryRunner.query(`ALTER TABLE "webhooks" DROP CONSTRAINT "webhooks_digest_ck"`);
    await queryRunner.query(`ALTER TABLE "webhooks" DROP CONSTRAINT "webhooks_max_per_hour_ck"`);
    await queryRunner.query(`DROP INDEX "public"."webhook_deliveries_held_idx"`);
    await queryRunner.query(`DROP INDEX "public"."webhook_deliveries_released_idx"`);
    await queryRunner.query(`ALTER TABLE "webhooks" ALTER COLUMN "secret" SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE "webhooks" ALTER COLUMN "url" SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE "webhook_deliveries" DROP COLUMN "released_at"`);
    await queryRunner.query(`ALTER TABLE "webhook_deliveries" DROP COLUMN "digest_id"`);
    await queryRunner.query(`ALTER TABLE "webhooks" DROP COLUMN "snoozed_until"`);
    await queryRunner.query(`ALTER TABLE "webhooks" DROP COLUMN "max_per_hour"`);
    await queryRunner.query(`ALTER TABLE "webhooks" DROP COLUMN "digest_window_ms"`);
    await queryRunner.query(`ALTER TABLE "webhooks" DROP COLUMN "quiet_hours"`);
    await queryRunner.query(`ALTER TABLE "webhooks" DROP COLUMN "directions"`);
    await queryRunner.query(`ALTER TABLE "webhooks" DROP COLUMN "kinds"`);
    await queryRunner.query(`ALTER TABLE "webhooks" DROP COLUMN "monitor_ids"`);
    await queryRunner.query(`ALTER TABLE "webhooks" DROP COLUMN "config"`);
    await queryRunner.query(`ALTER TABLE "webhooks" DROP COLUMN "name"`);
  }
}
