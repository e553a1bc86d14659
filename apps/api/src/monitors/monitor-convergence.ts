import type { WorkerInfo } from '../runtime/worker-runtime';
import type { MonitorEntity } from './monitor.entity';

/** What converge() found and left: the monitor's row (null when there is none) and its worker. */
export interface Converged {
  monitor: MonitorEntity | null;
  /** The monitor's worker after convergence; null when none runs (the monitor is not active). */
  worker: WorkerInfo | null;
}

/**
 * The one start path. A request writes the desired state in Postgres first (create: a `starting` row;
 * DELETE: `stopped`; restart: `starting` again; an edit: the new row, whose spec hash then differs), then
 * awaits converge(id). It makes the runtime match that one monitor's row: start a missing worker, replace
 * one that is gone or whose spec changed, stop one whose monitor is not active, fail one in a crash loop.
 * Serialised per monitor across every API replica (one owner at a time) and idempotent: two replicas that
 * converge the same monitor at once leave one worker. The periodic reconcile uses the same path.
 *
 * Rejects with the runtime's error when a step could not be carried out (RuntimeUnavailableError when the
 * runtime cannot be reached); the row stays as the request wrote it and the next reconcile pass tries
 * again, except a new monitor whose very first start failed: its row goes (nothing left behind).
 *
 * Implemented by the supervisor (WorkerSupervisor), provided to every module as MonitorConvergence.
 */
export abstract class MonitorConvergence {
  abstract converge(monitorId: string): Promise<Converged>;
}
