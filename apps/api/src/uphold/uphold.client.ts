import { Inject, Injectable, Optional } from '@nestjs/common';
import { isValidPair, RELAY_INTERVAL_HEADER, tickerPath } from '@pairwatch/contracts';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { RelayAddress } from '../config/relay-address';
import { PairwatchMetrics } from '../telemetry/pairwatch-metrics';

export class UpholdUnavailableError extends Error {
  override readonly name = 'UpholdUnavailableError';
}

const CHECK_TIMEOUT_MS = 5000;
/**
 * How old a price the relay may answer a pair check with: the check asks whether the pair exists, not what
 * it costs, so a list the relay fetched within the last minute does. Creating many monitors then costs the
 * upstream budget nothing beyond what the workers ask for, and waits on no upstream request.
 */
const CHECK_MAX_AGE_MS = 60_000;
/** /stats and /healthz are local and cheap: a relay that takes longer is taken as not answering. */
const RELAY_PROBE_TIMEOUT_MS = 1500;
/**
 * The relay's pair-endpoint-only pairs are asked at most this often: every create and every GET /health
 * plans with them, and they change only when a list turns out not to hold a watched pair.
 */
const PAIR_ENDPOINT_ONLY_TTL_MS = 5000;

/**
 * The API's one door to Uphold, and to the relay in front of it. With UPHOLD_RELAY=on every request goes
 * to the relay (so the API never spends Uphold's budget behind the relay's back); off, to Uphold itself.
 */
@Injectable()
export class UpholdClient {
  private pairOnly: { pairs: string[]; at: number } | undefined;
  private pairOnlyLookup: Promise<string[]> | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly relayAddress: RelayAddress,
    @Optional() private readonly metrics?: PairwatchMetrics,
  ) {}

  /** Where the ticker requests go: the relay (UPHOLD_RELAY=on) or UPHOLD_API_URL. */
  get baseUrl(): string {
    return this.config.upholdRelay ? this.relayAddress.endpoints().api : this.config.upholdApiUrl;
  }

  private get tickerName(): string {
    return this.config.upholdRelay ? 'the relay to the Uphold ticker' : 'the Uphold ticker';
  }

  /** true when the ticker knows the pair, false on 404; throws UpholdUnavailableError otherwise. */
  async pairExists(pair: string): Promise<boolean> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${tickerPath(pair)}`, {
        signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
        headers: {
          accept: 'application/json',
          ...(this.config.upholdRelay ? { [RELAY_INTERVAL_HEADER]: String(CHECK_MAX_AGE_MS) } : {}),
        },
      });
    } catch (error) {
      this.countDirect('network-error');
      throw new UpholdUnavailableError(
        `could not reach ${this.tickerName} to check ${pair}: ${(error as Error).message}` +
          (this.config.upholdRelay ? ' (is the relay up yet? see GET /health)' : ''),
      );
    }
    await response.body?.cancel();
    this.countDirect(String(response.status));
    if (response.ok) return true;
    if (response.status === 404) return false;
    if (response.status === 429) {
      throw new UpholdUnavailableError('the Uphold ticker is rate limiting pairwatch; try again later');
    }
    throw new UpholdUnavailableError(`${this.tickerName} answered ${response.status} when checking ${pair}`);
  }

  /**
   * The pairs the relay found only at the pair endpoint (its /stats), for the admission plan. Best effort:
   * empty with the relay off, or when it does not answer; an answer is used for a few seconds (concurrent
   * askers share one request).
   */
  async pairEndpointOnly(): Promise<string[]> {
    if (!this.config.upholdRelay) return [];
    if (this.pairOnly && Date.now() - this.pairOnly.at < PAIR_ENDPOINT_ONLY_TTL_MS)
      return this.pairOnly.pairs;
    this.pairOnlyLookup ??= this.fetchPairEndpointOnly().finally(() => (this.pairOnlyLookup = undefined));
    return this.pairOnlyLookup;
  }

  private async fetchPairEndpointOnly(): Promise<string[]> {
    const pairs = (await this.relayStats().catch(() => undefined))?.pairEndpointOnly;
    if (!Array.isArray(pairs)) return [];
    const valid = pairs.filter(isValidPair);
    this.pairOnly = { pairs: valid, at: Date.now() };
    return valid;
  }

  /**
   * The relay's upstream requests so far, by `kind:status` (its /stats), for /metrics. undefined with the
   * relay off; throws when the relay does not answer.
   */
  async relayUpstreamRequests(): Promise<Record<string, number> | undefined> {
    if (!this.config.upholdRelay) return undefined;
    const counts = (await this.relayStats())?.upstreamRequests;
    if (typeof counts !== 'object' || counts === null) return {};
    return Object.fromEntries(
      Object.entries(counts).filter((e): e is [string, number] => typeof e[1] === 'number'),
    );
  }

  /** The relay's /stats body (apps/worker relay: RelayStats); undefined with the relay off. */
  private async relayStats(): Promise<
    { pairEndpointOnly?: unknown; upstreamRequests?: unknown } | undefined
  > {
    if (!this.config.upholdRelay) return undefined;
    const response = await fetch(`${this.baseUrl}/stats`, {
      signal: AbortSignal.timeout(RELAY_PROBE_TIMEOUT_MS),
      headers: { accept: 'application/json' },
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new UpholdUnavailableError(`the relay at ${this.baseUrl} answered ${response.status} to /stats`);
    }
    return (await response.json()) as { pairEndpointOnly?: unknown; upstreamRequests?: unknown };
  }

  /** With the relay off the API's pair checks are upstream requests of their own; the relay counts its own. */
  private countDirect(status: string): void {
    if (!this.config.upholdRelay) this.metrics?.apiUpstreamRequest('pair', status);
  }

  /** Throws (with the reason) unless the relay answers its /healthz. */
  async relayHealthy(): Promise<void> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}/healthz`, {
        signal: AbortSignal.timeout(RELAY_PROBE_TIMEOUT_MS),
      });
    } catch (error) {
      throw new UpholdUnavailableError(
        `the relay at ${this.baseUrl} does not answer: ${(error as Error).message}`,
      );
    }
    await response.body?.cancel();
    if (!response.ok)
      throw new UpholdUnavailableError(`the relay at ${this.baseUrl} answered ${response.status}`);
  }
}
