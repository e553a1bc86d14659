import { Injectable } from '@nestjs/common';

/** What this API knows of the relay it keeps running: which one it recorded, and why none runs, if so. */
export interface RelayState {
  /** The relay started or adopted; null before the first reconcile pass, or once removed. */
  workerId: string | null;
  /** Why the relay is not running (a crash loop, a relay that cannot start); null while none is known. */
  failure: string | null;
}

/**
 * The one owner of the relay's state as the supervisor sees it: the ReconcileExecutor writes it as it carries
 * relay steps out, /health reads it. In memory: a restarted API learns it again at its first pass (adopt).
 */
@Injectable()
export class RelayStatus {
  private state: RelayState = { workerId: null, failure: null };

  get current(): RelayState {
    return { ...this.state };
  }

  /** The relay runs as `workerId` (started or adopted). */
  running(workerId: string): void {
    this.state = { workerId, failure: null };
  }

  /** The relay is not running, for `reason`; answers whether that is news (so it is logged once). */
  failed(workerId: string | null, reason: string): boolean {
    const news = this.state.failure !== reason;
    this.state = { workerId, failure: reason };
    return news;
  }

  /** The relay `workerId` was removed; forgotten if it was the recorded one. */
  removed(workerId: string): void {
    if (this.state.workerId === workerId) this.state = { workerId: null, failure: null };
  }
}
