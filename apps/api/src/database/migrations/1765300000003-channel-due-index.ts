import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The dispatcher's claim, per channel: each channel's oldest due deliveries (and which channels have any) read
 * from one index, so a channel with a long backlog cannot crowd the others out of a window of the oldest rows.
 */
export class ChannelDueIndex1765300000003 implements MigrationInterface {
  name = 'ChannelDueIndex1765300000003';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX "webhook_deliveries_channel_due_idx" ON "webhook_deliveries" ("webhook_id", "next_attempt_at") WHERE status = 'pending'`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."webhook_deliveries_channel_due_idx"`);
  }
}
