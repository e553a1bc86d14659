import { WORKER_EXIT } from '@pairwatch/contracts';
import type { MonitorEntity } from '../monitors/monitor.entity';
import type { WorkerInfo } from '../runtime/worker-runtime';
import {
  currentRelay,
  deathWindowStart,
  MonitorFacts,
  needsDeathFacts,
  needsSpecHash,
  planReconcile,
  PlannerConfig,
  ReconcileFacts,
  ReconcileStep,
  RelayFacts,
} from './reconcile-planner';
import {
  activeMonitor as monitor,
  CURRENT_HASH as HASH,
  ID_A as A,
  ID_B as B,
  ID_C as C,
  NOW,
  sampleExit as exit,
  sampleWorker as worker,
} from './testing/reconcile.fixtures';

const CONFIG: PlannerConfig = {
  crashLoop: { maxDeaths: 5, windowMs: 600_000 },
  maxRestarts: 5,
};

/** One active monitor with its worker as gathered (the spec hash asked whenever it is alive). */
function facts(m: MonitorEntity, w: WorkerInfo | null, more: Partial<MonitorFacts> = {}): MonitorFacts {
  return {
    monitor: m,
    worker: w,
    specHash: w && needsSpecHash(w) ? HASH : null,
    deaths: 0,
    lastExit: null,
    ...more,
  };
}

function world(monitors: MonitorFacts[], workers?: WorkerInfo[]): ReconcileFacts {
  return {
    now: NOW,
    monitors,
    workers: workers ?? monitors.flatMap((m) => (m.worker ? [m.worker] : [])),
  };
}

/** Whom a step is about, as the table writes it. */
function who(target: ReconcileStep['target']): string {
  switch (target.kind) {
    case 'monitor':
      return target.monitor.id;
    case 'orphan':
      return target.monitorId;
    case 'relay':
      return 'relay';
    case 'relay-removal':
      return `relay ${target.workerId} (${target.why})`;
  }
}

/** A step as the table writes it: action and whom, plus why/reason when there is one. */
function brief(step: ReconcileStep): string {
  switch (step.action) {
    case 'remove':
      return `remove ${who(step.target)}`;
    case 'adopt':
      return `adopt ${who(step.target)} ${step.workerId}`;
    case 'replace':
      return `replace ${who(step.target)} (${step.why})`;
    case 'fail':
      return `fail ${who(step.target)}: ${step.reason}`;
    case 'finish':
      return `finish ${who(step.target)}: ${step.reason}`;
    case 'start':
      return `start ${who(step.target)}`;
  }
}

const STARTING = { status: 'starting' as const, workerId: null };

describe(planReconcile.name, () => {
  it.each<[string, ReconcileFacts, string[]]>([
    ['nothing to do in an empty installation', world([]), []],
    ['a healthy worker the monitor records as running: nothing', world([facts(monitor(), worker())]), []],
    ['missing worker: start', world([facts(monitor({ workerId: 'gone-worker' }), null)]), [`start ${A}`]],
    [
      'healthy worker of a starting monitor: adopt',
      world([facts(monitor(STARTING), worker({ workerId: 'survivor' }))]),
      [`adopt ${A} survivor`],
    ],
    [
      'healthy worker whose id differs from the recorded one (another replica started it): adopt',
      world([facts(monitor({ workerId: 'old-id' }), worker({ workerId: 'other-id' }))]),
      [`adopt ${A} other-id`],
    ],
    [
      'stale spec hash: replace',
      world([facts(monitor(), worker({ specHash: 'made-from-an-older-image' }))]),
      [`replace ${A} (image or configuration changed)`],
    ],
    [
      'no spec-hash label at all: replace',
      world([facts(monitor(), worker({ specHash: null }))]),
      [`replace ${A} (image or configuration changed)`],
    ],
    [
      'gone worker (exited), no crash loop: replace',
      world([facts(monitor(), worker({ state: 'exited', exitCode: 137 }))]),
      [`replace ${A} (worker exited)`],
    ],
    [
      'gone worker (dead), no crash loop: replace',
      world([facts(monitor(), worker({ state: 'dead', exitCode: 137 }))]),
      [`replace ${A} (worker dead)`],
    ],
    [
      'gone worker with as many deaths as the limit allows: replace',
      world([facts(monitor(), worker({ state: 'exited', exitCode: 1 }), { deaths: 5 })]),
      [`replace ${A} (worker exited)`],
    ],
    [
      'crash loop: more deaths than CRASH_LOOP_MAX_DEATHS: fail, with the last exit and its log lines',
      world([
        facts(monitor(), worker({ state: 'restarting', exitCode: 1, restarts: 2 }), {
          deaths: 6,
          lastExit: exit({ exitCode: 2, logTail: 'invalid config: PAIR\nexiting' }),
        }),
      ]),
      [
        `fail ${A}: worker crash loop: died 6 times within 600 s (last exit code 2); last log lines:\n` +
          'invalid config: PAIR\nexiting',
      ],
    ],
    [
      'runtime gave up (exited, non-zero, restarts at the limit): fail',
      world([facts(monitor(), worker({ state: 'exited', exitCode: 1, restarts: 5 }))]),
      [`fail ${A}: worker crash loop: died 6 times within 600 s (last exit code 1)`],
    ],
    [
      'runtime stopped restarting a worker that exited cleanly: not giving up, replace',
      world([facts(monitor(), worker({ state: 'exited', exitCode: 0, restarts: 5 }))]),
      [`replace ${A} (worker exited)`],
    ],
    [
      'unknown pair (exit 3, gone): fail at once, whatever the count',
      world([
        facts(monitor({ pair: 'FOO-BAR' }), worker({ state: 'exited', exitCode: WORKER_EXIT.unknownPair }), {
          deaths: 1,
          lastExit: exit({ exitCode: WORKER_EXIT.unknownPair, logTail: 'FOO-BAR not on the ticker' }),
        }),
      ]),
      [
        `fail ${A}: pair FOO-BAR is unknown at the ticker (worker exit code 3); last log lines:\nFOO-BAR not on the ticker`,
      ],
    ],
    [
      'every rule done (exit 4): the monitor stops itself, not a crash, whether the worker is gone or restarting',
      world([
        facts(monitor(), worker({ state: 'exited', exitCode: WORKER_EXIT.rulesDone }), {
          deaths: 1,
          lastExit: exit({ exitCode: WORKER_EXIT.rulesDone }),
        }),
        facts(monitor({ id: B }), worker({ monitorId: B, state: 'restarting', restarts: 1 }), {
          deaths: 1,
          lastExit: exit({ exitCode: WORKER_EXIT.rulesDone }),
        }),
      ]),
      [`finish ${A}: rules done`, `finish ${B}: rules done`],
    ],
    [
      'exit 3 while the runtime still restarts it, within the limit: left to the runtime',
      world([
        facts(monitor(), worker({ state: 'restarting', restarts: 1 }), {
          deaths: 1,
          lastExit: exit({ exitCode: WORKER_EXIT.unknownPair }),
        }),
      ]),
      [],
    ],
    [
      'worker the runtime is restarting, deaths within the limit: left alone',
      world([facts(monitor(), worker({ state: 'restarting', restarts: 2 }), { deaths: 3 })]),
      [],
    ],
    [
      'orphans: removed, all of them',
      world([], [worker({ monitorId: B }), worker({ monitorId: C })]),
      [`remove ${B}`, `remove ${C}`],
    ],
    [
      'only the orphans go, the workers of active monitors stay',
      world([facts(monitor(), worker())], [worker(), worker({ monitorId: B })]),
      [`remove ${B}`],
    ],
    [
      'a monitor starting for a second: no grace, its dead worker replaced (steps run under its lock)',
      world([
        facts(
          monitor({ ...STARTING, createdAt: new Date(NOW - 1_000) }),
          worker({ state: 'exited', exitCode: 1 }),
        ),
      ]),
      [`replace ${A} (worker exited)`],
    ],
    [
      'a monitor restarted a second ago with no worker yet: started',
      world([
        facts(
          monitor({ ...STARTING, createdAt: new Date(NOW - 86_400_000), restartedAt: new Date(NOW - 1_000) }),
          null,
        ),
      ]),
      [`start ${A}`],
    ],
    [
      'a young running monitor has no grace',
      world([facts(monitor({ createdAt: new Date(NOW - 1_000) }), null)]),
      [`start ${A}`],
    ],
    [
      'facts that could not be gathered: the monitor is left alone and its worker is no orphan',
      world([facts(monitor(), worker({ specHash: 'stale' }), { unreadable: 'engine timeout' })]),
      [],
    ],
    [
      "the monitors' steps in their order, then the removals",
      world(
        [facts(monitor({ id: B, workerId: null }), null), facts(monitor(), worker({ specHash: 'old' }))],
        [worker({ specHash: 'old' }), worker({ monitorId: C })],
      ),
      [`start ${B}`, `replace ${A} (image or configuration changed)`, `remove ${C}`],
    ],
  ])('%s', (_situation, given, expected) => {
    expect(planReconcile(given, CONFIG).map(brief)).toEqual(expected);
  });

  it('names what each step acts on: the monitor (the same object the facts had), or the orphan worker', () => {
    const m = monitor();
    const steps = planReconcile(
      world([facts(m, null)], [worker({ monitorId: B, workerId: 'orphan-w' })]),
      CONFIG,
    );
    expect(steps).toEqual([
      { action: 'start', target: { kind: 'monitor', monitor: m } },
      { action: 'remove', target: { kind: 'orphan', monitorId: B, workerId: 'orphan-w' } },
    ]);
    expect((steps[0].target as { monitor: MonitorEntity }).monitor).toBe(m);
  });

  it('is pure: the same facts give the same steps, and the facts are left as they were', () => {
    const given = world([facts(monitor(STARTING), worker({ state: 'exited', exitCode: 1, restarts: 5 }))]);
    const copy = structuredClone(given);
    expect(planReconcile(given, CONFIG)).toEqual(planReconcile(given, CONFIG));
    expect(given).toEqual(copy);
  });
});

describe(deathWindowStart.name, () => {
  const WINDOW = CONFIG.crashLoop.windowMs;

  it.each<[string, Date | null, Date]>([
    ['never restarted: the whole window', null, new Date(NOW - WINDOW)],
    [
      'restarted within the window: deaths before the restart do not count',
      new Date(NOW - 60_000),
      new Date(NOW - 60_000),
    ],
    [
      'restarted before the window: the whole window',
      new Date(NOW - WINDOW - 60_000),
      new Date(NOW - WINDOW),
    ],
  ])('%s', (_situation, restartedAt, expected) => {
    expect(deathWindowStart(monitor({ restartedAt }), NOW, WINDOW)).toEqual(expected);
  });
});

describe(needsDeathFacts.name, () => {
  it.each<[Partial<WorkerInfo>, boolean]>([
    [{ state: 'running', restarts: 0 }, false],
    [{ state: 'running', restarts: 1 }, true],
    [{ state: 'restarting', restarts: 0 }, true],
    [{ state: 'exited' }, true],
    [{ state: 'dead' }, true],
    [{ state: 'created' }, false],
  ])('%p: %s', (values, expected) => {
    expect(needsDeathFacts(worker(values))).toBe(expected);
  });
});

/** The relay as the runtime lists it: running, current, recorded by this API. */
function relay(values: Partial<WorkerInfo> = {}): WorkerInfo {
  return worker({
    role: 'relay',
    workerId: 'relay-1',
    monitorId: '',
    pair: '',
    name: 'pairwatch-relay-default',
    ...values,
  });
}

function relayFacts(relays: WorkerInfo[], more: Partial<RelayFacts> = {}): RelayFacts {
  return {
    wanted: true,
    relays,
    specHash: relays.length > 0 ? HASH : null,
    deaths: 0,
    lastExit: null,
    recordedId: 'relay-1',
    ...more,
  };
}

function withRelay(r: RelayFacts, monitors: MonitorFacts[] = []): ReconcileFacts {
  return { ...world(monitors), relay: r };
}

describe(`${planReconcile.name}: the relay`, () => {
  const LOOP = 'relay crash loop: died 6 times within 600 s';
  it.each<[string, ReconcileFacts, string[]]>([
    ['a healthy relay this API recorded: nothing', withRelay(relayFacts([relay()])), []],
    ['no relay: start', withRelay(relayFacts([])), ['start relay']],
    [
      'no relay and a missing worker: the relay starts first',
      withRelay(relayFacts([]), [facts(monitor(), null)]),
      ['start relay', `start ${A}`],
    ],
    [
      'a healthy relay this API has not recorded (an API restart): adopt',
      withRelay(relayFacts([relay()], { recordedId: null })),
      ['adopt relay relay-1'],
    ],
    [
      'a relay that exited (not a crash loop): replace',
      withRelay(relayFacts([relay({ state: 'exited', exitCode: 0 })], { deaths: 1 })),
      ['replace relay (relay exited)'],
    ],
    [
      'a relay of another image or configuration: replace',
      withRelay(relayFacts([relay({ specHash: 'hash-before' })])),
      ['replace relay (image or configuration changed)'],
    ],
    [
      'a stale relay caught in a crash loop: replaced (the new configuration may fix it)',
      withRelay(relayFacts([relay({ state: 'exited', exitCode: 1, restarts: 5, specHash: 'old' })])),
      ['replace relay (image or configuration changed)'],
    ],
    [
      'a relay the runtime gave up restarting: fail (reported, not restarted)',
      withRelay(relayFacts([relay({ state: 'exited', exitCode: 1, restarts: 5 })])),
      [`fail relay: ${LOOP} (last exit code 1); workers cannot reach Uphold until it runs`],
    ],
    [
      'a relay that died more often than allowed within the window: fail, with its last log lines',
      withRelay(
        relayFacts([relay({ state: 'exited', exitCode: 70 })], {
          deaths: 6,
          lastExit: exit({ exitCode: 70, logTail: 'boom' }),
        }),
      ),
      [
        `fail relay: ${LOOP} (last exit code 70); workers cannot reach Uphold until it runs; last log lines:\nboom`,
      ],
    ],
    [
      'a relay the runtime restarts, still within the rule: nothing',
      withRelay(relayFacts([relay({ state: 'running', restarts: 2 })], { deaths: 2 })),
      [],
    ],
    [
      'two relays: the live one stays, the other goes',
      withRelay(
        relayFacts([
          relay({ workerId: 'relay-0', state: 'exited', startedAt: '2025-06-01T11:59:30.000Z' }),
          relay(),
        ]),
      ),
      ['remove relay relay-0 (one relay is enough)'],
    ],
    [
      'UPHOLD_RELAY=off: every relay goes, and nothing starts',
      withRelay(relayFacts([relay()], { wanted: false })),
      ['remove relay relay-1 (UPHOLD_RELAY=off)'],
    ],
    ['UPHOLD_RELAY=off and no relay: nothing', withRelay(relayFacts([], { wanted: false })), []],
    [
      'the relay could not be looked at: left alone but reported, the monitors still planned',
      withRelay(relayFacts([], { unreadable: 'engine down' }), [facts(monitor(), null)]),
      ['fail relay: the relay cannot be looked at: engine down', `start ${A}`],
    ],
  ])('%s', (_situation, given, expected) => {
    expect(planReconcile(given, CONFIG).map(brief)).toEqual(expected);
  });

  it('never plans the relay when the facts have none (as before the relay)', () => {
    expect(planReconcile(world([]), CONFIG)).toEqual([]);
  });
});

describe(currentRelay.name, () => {
  it.each<[string, WorkerInfo[], string | null]>([
    ['none', [], null],
    [
      'a live one before a newer exited one',
      [
        relay({ workerId: 'live' }),
        relay({ workerId: 'dead', state: 'exited', startedAt: '2025-06-01T12:00:00Z' }),
      ],
      'live',
    ],
    [
      'the newest of two live ones',
      [relay({ workerId: 'old', startedAt: '2025-06-01T10:00:00Z' }), relay({ workerId: 'new' })],
      'new',
    ],
    ['an exited one when there is nothing else', [relay({ workerId: 'dead', state: 'exited' })], 'dead'],
  ])('%s', (_situation, relays, expected) => {
    expect(currentRelay(relays)?.workerId ?? null).toBe(expected);
  });
});
