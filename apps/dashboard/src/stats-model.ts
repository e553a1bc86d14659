/**
 * `GET /alerts/stats?bucket=day` (DESIGN.md: alert counts per bucket, by kind and direction) as the bars of the
 * alerts-per-day chart. Read tolerantly: rows per bucket with counts by kind (`byKind`), or one row per bucket,
 * kind and direction with a `count`, in an array or under `items`/`buckets`.
 */
export interface DayBar {
  /** The bucket's start, ISO. */
  t: string;
  byKind: Record<string, number>;
  total: number;
}

type Row = Record<string, unknown>;

const num = (value: unknown): number => (typeof value === 'number' ? value : Number(value) || 0);
const text = (value: unknown, fallback: string): string =>
  typeof value === 'string' || typeof value === 'number' ? String(value) : fallback;

export function statsBars(answer: unknown): DayBar[] {
  const rows: unknown[] = Array.isArray(answer)
    ? answer
    : ((answer as { items?: unknown[]; buckets?: unknown[] } | null)?.items ??
      (answer as { buckets?: unknown[] } | null)?.buckets ??
      []);
  const bars = new Map<string, DayBar>();
  const bar = (t: string): DayBar => {
    let found = bars.get(t);
    if (!found) bars.set(t, (found = { t, byKind: {}, total: 0 }));
    return found;
  };
  for (const raw of rows) {
    if (typeof raw !== 'object' || raw === null) continue;
    const row = raw as Row;
    const t = text(row.t ?? row.bucket ?? row.start ?? row.at, '');
    if (!t) continue;
    const target = bar(t);
    const add = (kind: string, count: number) => {
      target.byKind[kind] = (target.byKind[kind] ?? 0) + count;
      target.total += count;
    };
    if (row.byKind && typeof row.byKind === 'object') {
      for (const [kind, value] of Object.entries(row.byKind as Row)) {
        // {move: 3} or {move: {up: 2, down: 1}}
        const count =
          typeof value === 'object' && value !== null
            ? Object.values(value as Row).reduce<number>((sum, v) => sum + num(v), 0)
            : num(value);
        add(kind, count);
      }
    } else if (Array.isArray(row.counts)) {
      for (const c of row.counts as Row[]) add(text(c.kind, 'move'), num(c.count));
    } else if ('count' in row) {
      add(text(row.kind, 'move'), num(row.count));
    }
  }
  return [...bars.values()].sort((a, b) => Date.parse(a.t) - Date.parse(b.t));
}

export const KIND_COLORS: Record<string, string> = {
  move: '#2563eb',
  cross: '#7c3aed',
  window: '#0891b2',
  trailing: '#d97706',
  spread: '#db2777',
};

/** The clock and timers a LiveRefresh uses (the page's own; fake ones in its tests). */
export interface RefreshTimers {
  now(): number;
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

const pageTimers: RefreshTimers = {
  now: () => Date.now(),
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
};

/**
 * Reloads after live alerts, coalesced: `poke()` (an alert arrived) schedules one `load` `settleMs` later, so a
 * burst of alerts (and a read replica a moment behind) makes one reload, and never sooner than `everyMs` after
 * the previous load began (`loaded()` says when one did, the periodic ones included). Pokes while a reload is
 * scheduled change nothing.
 */
export class LiveRefresh {
  private timer: unknown;
  private lastLoadAt = -Infinity;

  constructor(
    private readonly load: () => void,
    private readonly settleMs: number,
    private readonly everyMs: number,
    private readonly timers: RefreshTimers = pageTimers,
  ) {}

  poke(): void {
    if (this.timer !== undefined) return;
    const wait = Math.max(this.settleMs, this.lastLoadAt + this.everyMs - this.timers.now());
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.load();
    }, wait);
  }

  /** A load began (a scheduled one, or any other). */
  loaded(): void {
    this.lastLoadAt = this.timers.now();
  }

  stop(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
