import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Rules (DESIGN.md "Rules: what a monitor watches for"). Monitors get `rules` (jsonb, the normalised rule list);
 * a row without it (every row before this migration) reads as the one `move` rule its old columns describe, so
 * those columns become optional and new monitors leave them empty. Alerts get `rule_id`, `kind` and `details`;
 * old rows read as `r1`, `move`, `{}`. The (monitor_id, rule_id) index counts each rule's fires. Reviewed by hand.
 */
export class Rules1765200000000 implements MigrationInterface {
  name = 'Rules1765200000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "monitors" ADD "rules" jsonb`);
    await queryRunner.query(`ALTER TABLE "monitors" ALTER COLUMN "threshold_percent" DROP NOT NULL`);
    await queryRunner.query(`ALTER TABLE "monitors" ALTER COLUMN "price_field" DROP NOT NULL`);
    await queryRunner.query(`ALTER TABLE "monitors" ALTER COLUMN "direction" DROP NOT NULL`);
    await queryRunner.query(`ALTER TABLE "monitors" ALTER COLUMN "cooldown_ms" DROP NOT NULL`);
    await queryRunner.query(
      `ALTER TABLE "monitors" ADD CONSTRAINT "monitors_rules_ck" CHECK ("rules" IS NOT NULL OR "threshold_percent" IS NOT NULL)`,
    );
    await queryRunner.query(`ALTER TABLE "alerts" ADD "rule_id" character varying(32) NOT NULL DEFAULT 'r1'`);
    await queryRunner.query(`ALTER TABLE "alerts" ADD "kind" character varying(16) NOT NULL DEFAULT 'move'`);
    await queryRunner.query(`ALTER TABLE "alerts" ADD "details" jsonb NOT NULL DEFAULT '{}'`);
    await queryRunner.query(`CREATE INDEX "alerts_monitor_rule_idx" ON "alerts" ("monitor_id", "rule_id") `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "alerts_monitor_rule_idx"`);
    await queryRunner.query(`ALTER TABLE "alerts" DROP COLUMN "details"`);
    await queryRunner.query(`ALTER TABLE "alerts" DROP COLUMN "kind"`);
    await queryRunner.query(`ALTER TABLE "alerts" DROP COLUMN "rule_id"`);
    await queryRunner.query(`ALTER TABLE "monitors" DROP CONSTRAINT "monitors_rules_ck"`);
    // Monitors made with rules have no old columns to fall back to: they go (their alerts stay).
    await queryRunner.query(`DELETE FROM "monitors" WHERE "threshold_percent" IS NULL`);
    await queryRunner.query(`ALTER TABLE "monitors" ALTER COLUMN "cooldown_ms" SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE "monitors" ALTER COLUMN "direction" SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE "monitors" ALTER COLUMN "price_field" SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE "monitors" ALTER COLUMN "threshold_percent" SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE "monitors" DROP COLUMN "rules"`);
  }
}
