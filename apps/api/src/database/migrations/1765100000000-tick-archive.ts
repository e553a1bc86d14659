import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The tick archive (docs/STORAGE.md): `price_ticks`, partitioned by day on `at` (UTC days, partitions named
 * price_ticks_pYYYYMMDD, made ahead and dropped after TICK_RETENTION_DAYS by the API's maintenance), with a
 * default partition that takes any tick whose day has no partition yet (maintenance moves those rows into the
 * day's partition when it makes it); and `price_candles`, the OHLC rollups kept by the same statement that
 * archives the ticks. No entities: TypeORM cannot describe a partitioned table, so both are read and written
 * in SQL only (apps/api/src/analytics). Reviewed by hand.
 */
export class TickArchive1765100000000 implements MigrationInterface {
  name = 'TickArchive1765100000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "price_ticks" (
      "monitor_id" uuid NOT NULL,
      "pair" character varying(25) NOT NULL,
      "at" TIMESTAMP WITH TIME ZONE NOT NULL,
      "ask" numeric NOT NULL,
      "bid" numeric NOT NULL,
      CONSTRAINT "PK_price_ticks" PRIMARY KEY ("monitor_id", "at")
    ) PARTITION BY RANGE ("at")`);
    await queryRunner.query(`CREATE INDEX "IDX_price_ticks_pair_at" ON "price_ticks" ("pair", "at")`);
    await queryRunner.query(`CREATE TABLE "price_ticks_default" PARTITION OF "price_ticks" DEFAULT`);
    await queryRunner.query(`CREATE TABLE "price_candles" (
      "pair" character varying(25) NOT NULL,
      "interval_s" integer NOT NULL,
      "t" TIMESTAMP WITH TIME ZONE NOT NULL,
      "open_at" TIMESTAMP WITH TIME ZONE NOT NULL,
      "close_at" TIMESTAMP WITH TIME ZONE NOT NULL,
      "ask_open" numeric NOT NULL, "ask_high" numeric NOT NULL, "ask_low" numeric NOT NULL, "ask_close" numeric NOT NULL,
      "bid_open" numeric NOT NULL, "bid_high" numeric NOT NULL, "bid_low" numeric NOT NULL, "bid_close" numeric NOT NULL,
      "mid_open" numeric NOT NULL, "mid_high" numeric NOT NULL, "mid_low" numeric NOT NULL, "mid_close" numeric NOT NULL,
      "ticks" integer NOT NULL,
      CONSTRAINT "PK_price_candles" PRIMARY KEY ("pair", "interval_s", "t")
    )`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "price_candles"`);
    await queryRunner.query(`DROP TABLE "price_ticks"`);
  }
}
