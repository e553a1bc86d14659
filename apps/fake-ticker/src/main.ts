import { isDecimalString, isValidPair, normalizePair } from '@pairwatch/contracts';
import { FakeUpholdServer } from './fake-uphold.server';
import { bidFor, randomWalkStep, seedFor } from './random-walk';

/** The bid sits this far (in %) under the ask. */
const SPREAD_PERCENT = '0.05';

interface FakeTickerConfig {
  port: number;
  host: string;
  pairs: string[];
  stepMs: number;
  stepPercent: string;
}

function readConfig(env: NodeJS.ProcessEnv): FakeTickerConfig {
  const problems: string[] = [];
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name] ?? String(fallback);
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    }
    return value;
  };
  const port = int('PORT', 8099, 0, 65535);
  const stepMs = int('STEP_MS', 1000, 10, 3_600_000);
  const stepPercent = env.STEP_PERCENT ?? '0.05';
  if (!isDecimalString(stepPercent) || stepPercent.startsWith('-') || Number(stepPercent) > 50) {
    problems.push(`STEP_PERCENT must be a decimal from 0 to 50, got ${JSON.stringify(stepPercent)}`);
  }
  const pairs = (env.PAIRS ?? 'BTC-USD,ETH-USD,BTC-EUR,XRP-USD')
    .split(',')
    .map((p) => normalizePair(p.trim()))
    .filter((p) => p !== '');
  const badPairs = pairs.filter((p) => !isValidPair(p));
  if (badPairs.length > 0)
    problems.push(`PAIRS has invalid pairs: ${badPairs.join(', ')} (expected e.g. BTC-USD)`);
  if (pairs.length === 0) problems.push('PAIRS must name at least one pair');
  if (problems.length > 0) {
    console.error(`fake-ticker: invalid configuration: ${problems.join('; ')}`);
    process.exit(2);
  }
  return { port, host: env.HOST ?? '127.0.0.1', pairs: [...new Set(pairs)], stepMs, stepPercent };
}

async function main(): Promise<void> {
  const config = readConfig(process.env);
  const server = new FakeUpholdServer();
  const decimals = new Map<string, number>();
  for (const pair of config.pairs) {
    const seed = seedFor(pair);
    decimals.set(pair, seed.decimals);
    server.setQuote(pair, { ask: seed.price, bid: bidFor(seed.price, SPREAD_PERCENT, seed.decimals) });
  }

  const walk = setInterval(() => {
    for (const pair of config.pairs) {
      const places = decimals.get(pair) ?? 2;
      const current = server.quote(pair);
      if (!current) continue;
      const ask = randomWalkStep(current.ask, config.stepPercent, places, Math.random);
      server.setQuote(pair, { ask, bid: bidFor(ask, SPREAD_PERCENT, places) });
    }
  }, config.stepMs);

  const { url } = await server.start(config.port, config.host);
  console.log(
    `fake Uphold ticker listening on ${url} — pairs ${config.pairs.join(', ')}; ` +
      `prices move up to ±${config.stepPercent} % every ${config.stepMs} ms; try ${url}/v0/ticker/${config.pairs[0]}`,
  );

  const stop = (signal: NodeJS.Signals): void => {
    console.log(`fake-ticker: ${signal}, stopping`);
    clearInterval(walk);
    server.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(`fake-ticker: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
