import type { ParsedWorkerState } from '@pairwatch/contracts';
import { WorkerStateParser } from './worker-state-parser';

/** How many monitors' last parses are kept; past it the least recently changed go first. */
const DEFAULT_LIMIT = 10_000;

/**
 * A WorkerStateParser that reuses the last answer for a monitor whose hash did not change since: the plain
 * parser is asked only for a monitor it has not seen (or has evicted) and for a hash that differs in any field
 * or value. A worker rewrites its hash once a tick (5 s by default), while GET /health and GET /monitors read
 * every hash on every call: at 300 monitors the schema parse was most of WorkerStateReader.read's cost. A hash
 * is the same when every field and value is, so the answer is the one a fresh parse would give.
 */
export class CachingWorkerStateParser implements WorkerStateParser {
  private readonly last = new Map<string, { fingerprint: string; parsed: ParsedWorkerState }>();

  constructor(
    private readonly plain: WorkerStateParser,
    private readonly limit = DEFAULT_LIMIT,
  ) {}

  parse(monitorId: string, hash: Record<string, string>): ParsedWorkerState {
    const fingerprint = fingerprintOf(hash);
    const known = this.last.get(monitorId);
    if (known?.fingerprint === fingerprint) return known.parsed;
    const parsed = this.plain.parse(monitorId, hash);
    this.last.delete(monitorId);
    this.last.set(monitorId, { fingerprint, parsed });
    if (this.last.size > this.limit) this.last.delete(this.last.keys().next().value!);
    return parsed;
  }

  get size(): number {
    return this.last.size;
  }
}

/** The hash's fields and values in one string; NUL cannot occur in the text a worker writes. */
function fingerprintOf(hash: Record<string, string>): string {
  let fingerprint = '';
  for (const field in hash) fingerprint += `${field}\u0000${hash[field]}\u0000`;
  return fingerprint;
}
