import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The `webhooks` table holds every channel (webhook, Slack, Discord, email, Telegram, ntfy, Alertmanager): it is
 * named `channels` now, its primary key and checks with it. The foreign key of `webhook_deliveries` follows the
 * table by itself; the deliveries table and its `webhook_id` keep their names (as do the `/webhooks` routes).
 */
export class ChannelsTable1765300000004 implements MigrationInterface {
  name = 'ChannelsTable1765300000004';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "webhooks" RENAME TO "channels"`);
    await queryRunner.query(`ALTER TABLE "channels" RENAME CONSTRAINT "PK_webhooks" TO "PK_channels"`);
    await queryRunner.query(
      `ALTER TABLE "channels" RENAME CONSTRAINT "webhooks_format_ck" TO "channels_format_ck"`,
    );
    await queryRunner.query(
      `ALTER TABLE "channels" RENAME CONSTRAINT "webhooks_digest_ck" TO "channels_digest_ck"`,
    );
    await queryRunner.query(
      `ALTER TABLE "channels" RENAME CONSTRAINT "webhooks_max_per_hour_ck" TO "channels_max_per_hour_ck"`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "channels" RENAME CONSTRAINT "channels_max_per_hour_ck" TO "webhooks_max_per_hour_ck"`,
    );
    await queryRunner.query(
      `ALTER TABLE "channels" RENAME CONSTRAINT "channels_digest_ck" TO "webhooks_digest_ck"`,
    );
    await queryRunner.query(
      `ALTER TABLE "channels" RENAME CONSTRAINT "channels_format_ck" TO "webhooks_format_ck"`,
    );
    await queryRunner.query(`ALTER TABLE "channels" RENAME CONSTRAINT "PK_channels" TO "PK_webhooks"`);
    await queryRunner.query(`ALTER TABLE "channels" RENAME TO "webhooks"`);
  }
}
