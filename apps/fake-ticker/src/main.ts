/**
 * The fake Uphold ticker, standalone: `npm run build:fake-ticker && npm run ticker:fake`. Prices take a random
 * walk; see fake-uphold.server.ts for what it answers (`/v0/ticker/{PAIR}`, `/v0/ticker/{CURRENCY}`,
 * `/__fake/stats`). Environment, each checked at start (a bad value: exit 2, naming the variable):
 *
 * - `PORT` (8099), `HOST` (127.0.0.1)
 * - `PAIRS`: comma-separated pairs (default BTC-USD,ETH-USD,BTC-EUR,XRP-USD, unless PAIR_COUNT is set)
 * - `PAIR_COUNT` (1 to 10000) and `CURRENCIES` (USD,EUR,BTC): that many synthetic pairs for benchmarks, made-up
 *   bases against the currencies in turn: `PAIR_COUNT=300` is C000..C099 against each of USD, EUR and BTC.
 *   They come on top of PAIRS when PAIRS is set too.
 * - `STEP_MS` (1000), `STEP_PERCENT` (0.05): every STEP_MS each pair moves by at most ±STEP_PERCENT %
 * - `RATE_LIMIT_PER_MIN`: requests a minute per client address, like Uphold's 250 (unset: no limit)
 *
 * Scripting moves: `PUT /__fake/prices/:pair {ask, bid?, hold?}`, `DELETE /__fake/prices/:pair`,
 * `POST /__fake/series/:pair {points, stepMs?, hold?}` (see price-controls.ts).
 */
import { readFakeTickerConfig } from './fake-ticker.config';
import { FakeUpholdServer } from './fake-uphold.server';
import { seedQuote, walkStep } from './random-walk';

/** Pairs named in the start-up line; past that, a count. */
const PAIRS_SHOWN = 8;

async function main(): Promise<void> {
  const read = readFakeTickerConfig(process.env);
  if (read.problems) {
    console.error(`fake-ticker: invalid configuration: ${read.problems.join('; ')}`);
    process.exit(2);
  }
  const { config } = read;
  const server = new FakeUpholdServer();
  server.setRateLimit(config.rateLimitPerMin);
  for (const pair of config.pairs) server.setQuote(pair, seedQuote(pair));

  // Held pairs (PUT /__fake/prices/:pair, a series playing) stay where they were set.
  const walk = setInterval(() => walkStep(server, config.stepPercent, Math.random), config.stepMs);

  const { url } = await server.start(config.port, config.host);
  const shown =
    config.pairs.length <= PAIRS_SHOWN
      ? config.pairs.join(', ')
      : `${config.pairs.slice(0, PAIRS_SHOWN).join(', ')}… (${config.pairs.length} pairs)`;
  const limit =
    config.rateLimitPerMin === null ? 'no rate limit' : `${config.rateLimitPerMin} requests/min per client`;
  const currency = config.pairs[0].split('-')[1];
  console.log(
    `fake Uphold ticker listening on ${url} — pairs ${shown}; ` +
      `prices move up to ±${config.stepPercent} % every ${config.stepMs} ms; ${limit}; ` +
      `try ${url}/v0/ticker/${config.pairs[0]}, ${url}/v0/ticker/${currency} or ${url}/__fake/stats; ` +
      `set a price with PUT ${url}/__fake/prices/${config.pairs[0]} {"ask":"…"}`,
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
