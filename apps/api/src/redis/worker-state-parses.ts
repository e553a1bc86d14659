import { parseWorkerState, ParsedWorkerState } from '@pairwatch/contracts';

/** How many monitors' last parses are kept; past it the least recently changed go first. */
const DEFAULT_LIMIT = 10_000;

/**
 * parseWorkerState, reusing the last answer for a monitor whose hash did not change since. A worker rewrites
 * its hash once a tick (5 s by default), while GET /health and GET /monitors read every hash on every call: at
 * 300 monitors the schema parse was most of WorkerStateReader.read's cost. A hash is the same when every
 * field and value is, so the answer is the one a fresh parse would give.
 */
export class WorkerStateParses {
  private readonly last = new Map<string, { fingerprint: string; parsed: ParsedWorkerState }>();

  constructor(private readonly limit = DEFAULT_LIMIT) {}

  parse(monitorId: string, hash: Record<string, string>): ParsedWorkerState {
    const fingerprint = fingerprintOf(hash);
    const known = this.last.get(monitorId);
    if (known?.fingerprint === fingerprint) return known.parsed;
    const parsed = parseWorkerState(hash);
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
