/**
 * What the noise rules say should become of each alert, computed from their definition in docs/CHANNELS.md
 * ("Noise control") and nothing of the API's code: the benchmark and the e2e suite compare it with what the
 * receivers got. Deliberately plain: quiet hours are checked on a fixed UTC offset (the scenarios use zones
 * without DST), every day of the week; a digest window opens at an alert's commit and takes every later alert
 * of the channel committed before it closes; a digest carries at most DIGEST_MAX alerts (more held at once make
 * several). Mute (the monitor) and snooze (the channel) suppress, before any other rule.
 */

/** CHANNEL_LIMITS.digestAlerts, as docs/CHANNELS.md states it. */
export const DIGEST_MAX = 500;

export interface OracleChannel {
  key: string;
  /** Empty: every pair. */
  pairs: readonly string[];
  /** Empty: every monitor. */
  monitorIds: readonly string[];
  snoozed: boolean;
  /** A window every day, `from`–`to` local (HH:MM; `to` ≤ `from` crosses midnight) at `offsetMinutes` from UTC. */
  quiet: { offsetMinutes: number; from: string; to: string } | null;
  digestWindowMs: number | null;
}

export interface OracleAlert {
  id: string;
  pair: string;
  monitorId: string;
  /** When its row was committed (ms since the epoch): when the rules see it. */
  committedAt: number;
}

export interface Prediction {
  /** Alerts that go out as their own message. */
  own: Set<string>;
  /** Alerts held together: each group goes out as ceil(n / DIGEST_MAX) digests. */
  groups: string[][];
  suppressed: Set<string>;
}

const DAY = 86_400_000;
const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** When the quiet window `t` falls in ends, or null when `t` is not in one. */
export function quietUntil(quiet: NonNullable<OracleChannel['quiet']>, t: number): number | null {
  const offset = quiet.offsetMinutes * 60_000;
  const local = t + offset;
  const dayStart = Math.floor(local / DAY) * DAY;
  const minute = (local - dayStart) / 60_000;
  const from = minutesOf(quiet.from);
  const to = minutesOf(quiet.to);
  let endLocal: number | null = null;
  if (from < to) {
    if (minute >= from && minute < to) endLocal = dayStart + to * 60_000;
  } else if (minute >= from) {
    endLocal = dayStart + DAY + to * 60_000;
  } else if (minute < to) {
    endLocal = dayStart + to * 60_000;
  }
  return endLocal === null ? null : endLocal - offset;
}

export function predict(
  channel: OracleChannel,
  alerts: readonly OracleAlert[],
  muted: ReadonlySet<string>,
): Prediction {
  const wanted = alerts
    .filter(
      (a) =>
        (channel.pairs.length === 0 || channel.pairs.includes(a.pair)) &&
        (channel.monitorIds.length === 0 || channel.monitorIds.includes(a.monitorId)),
    )
    .sort((a, b) => a.committedAt - b.committedAt);
  const prediction: Prediction = { own: new Set(), groups: [], suppressed: new Set() };
  // Held groups by the instant they are let go.
  const holds = new Map<number, string[]>();
  let digestUntil: number | null = null;
  for (const alert of wanted) {
    if (channel.snoozed || muted.has(alert.monitorId)) {
      prediction.suppressed.add(alert.id);
      continue;
    }
    const quietEnd = channel.quiet ? quietUntil(channel.quiet, alert.committedAt) : null;
    let until: number | null = quietEnd;
    if (until === null && channel.digestWindowMs !== null) {
      if (digestUntil === null || alert.committedAt >= digestUntil)
        digestUntil = alert.committedAt + channel.digestWindowMs;
      until = digestUntil;
    }
    if (until === null) prediction.own.add(alert.id);
    else holds.set(until, [...(holds.get(until) ?? []), alert.id]);
  }
  prediction.groups = [...holds.entries()].sort(([a], [b]) => a - b).map(([, ids]) => ids);
  return prediction;
}

/** What one channel's receiver got and its log says. */
export interface Received {
  /** Alert ids of the `alert.created` messages, one entry per request. */
  own: string[];
  /** Alert ids of each digest request. */
  digests: string[][];
  /** Alert ids the log shows `suppressed`. */
  suppressed: string[];
}

export interface Tally {
  key: string;
  predicted: { own: number; digests: number; digested: number; suppressed: number };
  got: { own: number; digests: number; digested: number; suppressed: number };
  /** What does not match, in words (empty: all as predicted). */
  problems: string[];
}

const sizes = (n: number) =>
  Array.from({ length: Math.ceil(n / DIGEST_MAX) }, (_, i) => Math.min(DIGEST_MAX, n - i * DIGEST_MAX));

/**
 * Compares what a channel got with the prediction: each predicted own message once; each predicted group
 * carried by exactly ceil(n / DIGEST_MAX) digests holding all of it and nothing else (sizes DIGEST_MAX…, the
 * rest); each predicted suppressed alert logged so; every alert the channel wants in exactly one of the three.
 */
export function compare(key: string, prediction: Prediction, received: Received): Tally {
  const problems: string[] = [];
  const predictedDigests = prediction.groups.reduce((n, g) => n + sizes(g.length).length, 0);
  const predictedDigested = prediction.groups.reduce((n, g) => n + g.length, 0);
  const where = new Map<string, string[]>();
  const note = (id: string, what: string) => where.set(id, [...(where.get(id) ?? []), what]);
  for (const id of received.own) note(id, 'own');
  received.digests.forEach((ids, i) => ids.forEach((id) => note(id, `digest ${i}`)));
  for (const id of received.suppressed) note(id, 'suppressed');
  const wanted = [...prediction.own, ...prediction.groups.flat(), ...prediction.suppressed];
  let misplaced = 0;
  const say = (text: string) => {
    if (problems.length < 10) problems.push(text);
  };
  for (const id of prediction.own)
    if ((where.get(id) ?? []).join() !== 'own') {
      misplaced += 1;
      say(`${id}: expected its own message, got ${where.get(id)?.join(' + ') ?? 'nothing'}`);
    }
  for (const id of prediction.suppressed)
    if ((where.get(id) ?? []).join() !== 'suppressed') {
      misplaced += 1;
      say(`${id}: expected suppressed, got ${where.get(id)?.join(' + ') ?? 'nothing'}`);
    }
  const digestOf = new Map<string, number>();
  for (const [i, ids] of received.digests.entries()) for (const id of ids) digestOf.set(id, i);
  for (const group of prediction.groups) {
    const carriers = new Set<number>();
    for (const id of group) {
      const at = where.get(id) ?? [];
      if (at.length !== 1 || !at[0].startsWith('digest')) {
        misplaced += 1;
        say(`${id}: expected in a digest, got ${at.join(' + ') || 'nothing'}`);
      } else carriers.add(digestOf.get(id)!);
    }
    const inGroup = new Set(group);
    const got = [...carriers].map((i) => received.digests[i]);
    const gotSizes = got.map((ids) => ids.length).sort((a, b) => b - a);
    if (got.some((ids) => ids.some((id) => !inGroup.has(id))))
      say(`a group of ${group.length} shares a digest with alerts of another group or none`);
    if (gotSizes.join() !== sizes(group.length).join())
      say(
        `a group of ${group.length}: digests of ${gotSizes.join(', ')} (expected ${sizes(group.length).join(', ')})`,
      );
  }
  const wantedSet = new Set(wanted);
  const stray = [...where.keys()].filter((id) => !wantedSet.has(id));
  if (stray.length) say(`${stray.length} alert(s) the channel does not want were sent or logged`);
  if (misplaced) problems.unshift(`${misplaced} alert(s) not where the rules put them`);
  return {
    key,
    predicted: {
      own: prediction.own.size,
      digests: predictedDigests,
      digested: predictedDigested,
      suppressed: prediction.suppressed.size,
    },
    got: {
      own: received.own.length,
      digests: received.digests.length,
      digested: received.digests.reduce((n, ids) => n + ids.length, 0),
      suppressed: received.suppressed.length,
    },
    problems,
  };
}
