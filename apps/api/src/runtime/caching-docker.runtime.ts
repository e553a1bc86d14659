import type Docker from 'dockerode';
import type { EngineEvent } from './docker-engine';
import { DockerRuntime } from './docker.runtime';
import type { ListOptions, Workload, WorkloadSpec, WorkerInfo } from './worker-runtime';

/**
 * DockerRuntime with its reads kept while they can be trusted, chosen in runtime.module.ts: at 300 workers
 * GET /monitors costs at most one list call (none while nothing changed), a reconcile pass one list call
 * instead of a list and 300 inspections (docs/BENCHMARKS.md). Both caches live only while the event stream
 * is followed (watch()); DockerRuntime alone is the same answers, asked of the engine every time.
 */
export class CachingDockerRuntime extends DockerRuntime {
  private readonly details = new ContainerDetails<Docker.ContainerInspectInfo>();
  private readonly listing = new RecentListing<Docker.ContainerInfo[]>();

  override start(spec: WorkloadSpec): Promise<WorkerInfo> {
    return this.changing(() => super.start(spec));
  }

  override stop(workload: Workload, workerId?: string): Promise<void> {
    return this.changing(() => super.stop(workload, workerId));
  }

  protected override async installation(options: ListOptions = {}): Promise<Docker.ContainerInfo[]> {
    const all = await this.listing.get(options.maxAgeMs, () => super.installation());
    this.details.retain(new Set(all.map((c) => c.Id)));
    return all;
  }

  protected override inspect(container: Docker.ContainerInfo): Promise<Docker.ContainerInspectInfo | null> {
    return this.details.get(container.Id, container.State, () => super.inspect(container));
  }

  protected override connected(live: boolean): void {
    this.listing.setLive(live);
    this.details.setLive(live);
  }

  protected override sawEvent(event: EngineEvent): void {
    this.listing.changed();
    if (event.Actor?.ID) this.details.forget(event.Actor.ID);
  }

  /** A listing from before or during a change of its own is not answered again. */
  private async changing<T>(change: () => Promise<T>): Promise<T> {
    this.listing.changed();
    try {
      return await change();
    } finally {
      this.listing.changed();
    }
  }
}

/**
 * Containers' inspections, kept while they can be trusted:
 * - only while the event stream is followed (`setLive(true)`): every change an inspection shows and the list
 *   does not (a death, a restart, a removal) arrives as an event, and `forget()` drops that container's entry;
 * - only while the container's listed state is still the inspected one (an event not seen yet is caught here);
 * - an inspection that began before its container's last event (or before the last drop) is not kept.
 */
export class ContainerDetails<T extends { State: { Status: string } }> {
  private readonly entries = new Map<string, T>();
  /** Bumped by every forget(id): an inspection started under an older value is not kept. */
  private readonly generations = new Map<string, number>();
  private epoch = 0;
  private live = false;

  /** Whether the event stream is followed now; a change either way drops every entry. */
  setLive(live: boolean): void {
    if (live === this.live) return;
    this.live = live;
    this.entries.clear();
    this.epoch += 1;
  }

  /** Something happened to the container: its next look is a fresh inspection. */
  forget(id: string): void {
    this.entries.delete(id);
    this.generations.set(id, (this.generations.get(id) ?? 0) + 1);
  }

  /** The container's inspection: the kept one while it can be trusted, else `inspect()` (kept when it may be). */
  async get(id: string, listedState: string, inspect: () => Promise<T | null>): Promise<T | null> {
    const kept = this.entries.get(id);
    if (kept && this.live && kept.State.Status === listedState) return kept;
    const epoch = this.epoch;
    const generation = this.generations.get(id) ?? 0;
    const info = await inspect();
    if (!info) this.entries.delete(id);
    else if (this.live && epoch === this.epoch && generation === (this.generations.get(id) ?? 0))
      this.entries.set(id, info);
    return info;
  }

  /** Forgets the containers not in `ids` (the ones a full list no longer shows). */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.entries.keys()) if (!ids.has(id)) this.entries.delete(id);
    for (const id of this.generations.keys()) if (!ids.has(id)) this.generations.delete(id);
  }
}

/**
 * The last full listing, answered again to list({ maxAgeMs }) when it began less than `maxAgeMs` ago, the
 * event stream is followed (`setLive()`) and nothing changed since (`changed()`: every event, every change
 * the runtime makes).
 */
export class RecentListing<T> {
  private changes = 0;
  private live = false;
  private last: { changes: number; at: number; value: Promise<T> } | undefined;

  /** Something changed: no listing from before it is answered again. */
  changed(): void {
    this.changes += 1;
  }

  setLive(live: boolean): void {
    this.changed();
    this.live = live;
  }

  /** The last listing when it may be answered again, else `list()` (which becomes the last; a failed one not). */
  get(maxAgeMs: number | undefined, list: () => Promise<T>): Promise<T> {
    const last = this.last;
    const fresh = last && maxAgeMs !== undefined && Date.now() - last.at < maxAgeMs;
    if (fresh && this.live && last.changes === this.changes) return last.value;
    const listing = { changes: this.changes, at: Date.now(), value: list() };
    this.last = listing;
    listing.value.catch(() => {
      if (this.last === listing) this.last = undefined;
    });
    return listing.value;
  }
}
