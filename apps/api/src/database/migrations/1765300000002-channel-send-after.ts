import { MigrationInterface, QueryRunner } from 'typeorm';

/** A channel's receiver answered 429 with Retry-After (Telegram's `retry_after`): nothing goes to it before `send_after`. */
export class ChannelSendAfter1765300000002 implements MigrationInterface {
  name = 'ChannelSendAfter1765300000002';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "webhooks" ADD "send_after" TIMESTAMP WITH TIME ZONE`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "webhooks" DROP COLUMN "send_after"`);
  }
}
