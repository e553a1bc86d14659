import { parseWorkerState, ParsedWorkerState } from '@pairwatch/contracts';

/**
 * Turns a worker's state hash (`pairwatch:worker:{monitorId}`, as HGETALL answers it) into its state: the schema
 * of libs/contracts, checked on every call. This is the correctness; the Redis module wraps it in
 * CachingWorkerStateParser for speed, which must answer exactly what this does.
 */
export class WorkerStateParser {
  parse(_monitorId: string, hash: Record<string, string>): ParsedWorkerState {
    return parseWorkerState(hash);
  }
}
