import { MigrationInterface, QueryRunner } from 'typeorm';

/** POST /monitors/:id/mute: until `muted_until` a monitor's alerts reach no channel (logged suppressed). */
export class MonitorMute1765300000001 implements MigrationInterface {
  name = 'MonitorMute1765300000001';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "monitors" ADD "muted_until" TIMESTAMP WITH TIME ZONE`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "monitors" DROP COLUMN "muted_until"`);
  }
}
