import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { INSERT_ALERTS_SQL } from '../apps/api/src/alerts/alerts.repository';
import { scratchDatabase, dropScratchDatabase } from './support/bench-env';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../apps/api/src/database/data-source';
const JSON_SQL = `INSERT INTO alerts (id, monitor_id, pair, direction, price_field, reference_price,
  price, change_percent, threshold_percent, interval_ms, observed_at)
SELECT r."id", r."monitorId", r."pair", r."direction", r."priceField", r."referencePrice", r."price", r."changePercent", r."thresholdPercent", r."intervalMs", r."observedAt"
FROM json_to_recordset($1::json) AS r("id" uuid, "monitorId" uuid, "pair" varchar, "direction" varchar, "priceField" varchar, "referencePrice" numeric, "price" numeric, "changePercent" numeric, "thresholdPercent" numeric, "intervalMs" int, "observedAt" timestamptz)
ON CONFLICT (id) DO NOTHING RETURNING id`;
(async () => {
  const url = await scratchDatabase('pairwatch_bench_tmp');
  const ds = new DataSource(dataSourceOptions(url)); await ds.initialize(); await ds.runMigrations(); await ds.destroy();
  const c = new Client({ connectionString: url }); await c.connect();
  const m = randomUUID();
  const batch = 2000, N = 100000;
  for (const kind of ['unnest', 'json', 'unnest', 'json', 'unnest', 'json']) {
    await c.query('TRUNCATE alerts'); await c.query('CHECKPOINT');
    const evs = Array.from({ length: N }, (_, i) => ({ id: randomUUID(), monitorId: m, pair: 'BTC-USD', direction: 'up', priceField: 'ask', referencePrice: '63120.45', price: `${63120 + i%1000}.45`, changePercent: '0.01234567', thresholdPercent: '0.01', intervalMs: 5000, observedAt: new Date(Date.UTC(2026,11,1) + i).toISOString() }));
    const cpu0 = process.cpuUsage();
    const t = performance.now();
    for (let b = 0; b < N; b += batch) {
      const es = evs.slice(b, b + batch);
      if (kind === 'unnest') {
        const cs: unknown[][] = Array.from({length: 11}, () => []);
        for (const e of es) { const v = [e.id, e.monitorId, e.pair, e.direction, e.priceField, e.referencePrice, e.price, e.changePercent, e.thresholdPercent, e.intervalMs, e.observedAt]; v.forEach((x, k) => cs[k].push(x)); }
        await c.query(INSERT_ALERTS_SQL, cs);
      } else {
        await c.query(JSON_SQL, [JSON.stringify(es)]);
      }
    }
    const ms = performance.now() - t; const cpu = process.cpuUsage(cpu0);
    console.log(`${kind}: ${(N / ms * 1000).toFixed(0)} rows/s, node cpu ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms`);
  }
  await c.end(); await dropScratchDatabase('pairwatch_bench_tmp');
})();
