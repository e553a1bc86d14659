import Redis from 'ioredis';
import { encodePriceTick, parseRulesInput, readPriceTick, resumeRules, RuleSet, workerPricesKey } from '@pairwatch/contracts';
const TEN = [
  { kind: 'move', thresholdPercent: '1' },
  { kind: 'move', thresholdPercent: '0.5', priceField: 'mid', direction: 'up', cooldownMs: 60_000 },
  { kind: 'cross', level: '60100', rearmPercent: '0.05' },
  { kind: 'cross', level: '59900', direction: 'down' },
  { kind: 'window', thresholdPercent: '5', windowMs: 86_400_000 },
  { kind: 'window', thresholdPercent: '0.3', windowMs: 900_000 },
  { kind: 'window', thresholdPercent: '0.5', windowMs: 3_600_000, direction: 'up', priceField: 'bid' },
  { kind: 'trailing', thresholdPercent: '0.4' },
  { kind: 'trailing', thresholdPercent: '0.4', direction: 'up' },
  { kind: 'spread', thresholdPercent: '0.01' },
];
async function main() {
  const redis = new Redis('redis://127.0.0.1:6379/4');
  const key = workerPricesKey('probe-rules');
  if (process.env.FILL) {
    await redis.del(key);
    const now = Date.now(); const tx = redis.multi(); let c = 6000000;
    for (let i = 0; i < 3600; i++) { c += Math.round((Math.random() - 0.5) * 600); const at = now - (3600 - i) * 1000;
      const t = (x: number) => `${Math.floor(x / 100)}.${String(x % 100).padStart(2, '0')}`;
      tx.xadd(key, `${at}-0`, ...encodePriceTick({ at: new Date(at).toISOString(), ask: t(c), bid: t(c - 300), price: t(c) })); }
    await tx.exec(); redis.disconnect(); return;
  }
  const t0 = performance.now(); const c0 = process.cpuUsage();
  const pages: Array<Array<[string, string[]]>> = []; let start = '0';
  for (;;) { const page = await redis.xrange(key, start, '+', 'COUNT', 1000); pages.push(page); if (page.length < 1000) break; start = `(${page[page.length - 1][0]}`; }
  const t1 = performance.now(); const c1 = process.cpuUsage(c0);
  const ticks = [];
  for (const page of pages) for (const [, f] of page) { const r = readPriceTick(f); if (r.ok) { const j = r.json; const a = j.indexOf('"ask":"'); const b = j.indexOf('","bid":"'); const p = j.indexOf('","price":"'); ticks.push({ atMs: Date.parse(r.at), ask: j.slice(a + 7, b), bid: j.slice(b + 9, p) }); } }
  const t2 = performance.now(); const c2 = process.cpuUsage(c0);
  const parsed = parseRulesInput(TEN, { intervalMs: 1000, now: 0 }); if (!parsed.ok) throw new Error();
  const t2b = performance.now();
  const set = new RuleSet(parsed.rules); const marks: string[] = [];
  for (let i = 0; i < ticks.length; i += 300) { const a = performance.now(); const cc = process.cpuUsage(); for (const t of ticks.slice(i, i + 300)) set.observe(t, t.atMs, false); const u = process.cpuUsage(cc); marks.push((performance.now() - a).toFixed(1) + '/' + ((u.user + u.system) / 1000).toFixed(1)); }
  console.log('chunks of 300:', marks.join(' '));
  const res = { ticks: 0 };
  const t3 = performance.now(); const c3 = process.cpuUsage(c0);
  const h0 = performance.now(); resumeRules(new RuleSet(parsed.rules), ticks, {}, 0); console.log('second replay', (performance.now() - h0).toFixed(0), 'ms');
  const cpu = (c: NodeJS.CpuUsage) => ((c.user + c.system) / 1000).toFixed(0);
  console.log(`xrange ${(t1 - t0).toFixed(0)} ms (cpu ${cpu(c1)}), read ${(t2 - t1).toFixed(0)} ms (cpu total ${cpu(c2)}), rules parse ${(t2b - t2).toFixed(0)} ms, replay ${res.ticks} ticks ${(t3 - t2b).toFixed(0)} ms (cpu total ${cpu(c3)})`);
  redis.disconnect();
}
void main();
