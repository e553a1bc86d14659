import { Injectable } from '@nestjs/common';

/**
 * The monitors whose worker a request of this process is starting now (POST /monitors, a restart), from the
 * start call until the monitor is marked running or the request has undone its change. A reconcile pass
 * leaves these alone whatever their age: on a loaded engine a start can take longer than the `starting`
 * grace, and the pass would otherwise start the same worker a second time (or adopt one that the request is
 * about to remove). Other replicas' requests are covered by the grace only.
 */
@Injectable()
export class LaunchesInFlight {
  private readonly counts = new Map<string, number>();

  /** Runs `launch` with `monitorId` marked as launching. */
  async around<T>(monitorId: string, launch: () => Promise<T>): Promise<T> {
    this.counts.set(monitorId, (this.counts.get(monitorId) ?? 0) + 1);
    try {
      return await launch();
    } finally {
      const left = (this.counts.get(monitorId) ?? 1) - 1;
      if (left > 0) this.counts.set(monitorId, left);
      else this.counts.delete(monitorId);
    }
  }

  has(monitorId: string): boolean {
    return this.counts.has(monitorId);
  }
}
