import type { MonitorTransition } from '../monitors/monitor-lifecycle.service';
import { monitorEventOf } from './webhook-monitor-events.service';

const at = new Date('2026-01-01T00:00:00.000Z');
const step = (
  intent: MonitorTransition['intent'],
  from: MonitorTransition['from'],
  to: MonitorTransition['to'],
  reason: string | null = null,
): MonitorTransition => ({ monitorId: 'm1', pair: 'BTC-USD', intent, from, to, reason, workerId: null, at });

describe('monitorEventOf', () => {
  it.each<[string, MonitorTransition[], (string | undefined)[]]>([
    [
      'a plain start',
      [step('create', null, 'starting'), step('markRunning', 'starting', 'running')],
      [undefined, undefined],
    ],
    ['a failure', [step('fail', 'running', 'failed', 'crash loop')], ['monitor.failed']],
    [
      'a failed monitor restarted and running again',
      [
        step('fail', 'running', 'failed', 'x'),
        step('reactivate', 'failed', 'starting'),
        step('markRunning', 'starting', 'running'),
        step('markRunning', 'running', 'running'),
      ],
      ['monitor.failed', undefined, 'monitor.recovered', undefined],
    ],
    [
      'a stopped monitor restarted is no recovery',
      [
        step('stop', 'running', 'stopped'),
        step('reactivate', 'stopped', 'starting'),
        step('markRunning', 'starting', 'running'),
      ],
      [undefined, undefined, undefined],
    ],
    [
      'a restart stopped before its worker ran',
      [step('reactivate', 'failed', 'starting'), step('stop', 'starting', 'stopped')],
      [undefined, undefined],
    ],
    [
      'a monitor that stopped itself (every rule done), and one a request stopped',
      [step('stop', 'running', 'stopped', 'rules done'), step('stop', 'running', 'stopped')],
      ['monitor.stopped', undefined],
    ],
    [
      'a stale episode: stale once, recovered when it reports again',
      [step('markStale', 'running', 'running'), step('markReporting', 'running', 'running')],
      ['monitor.stale', 'monitor.recovered'],
    ],
  ])('%s', (_name, transitions, types) => {
    const recovering = new Set<string>();
    expect(transitions.map((t) => monitorEventOf(t, recovering)?.type)).toEqual(types);
  });

  it('carries the monitor and its reason', () => {
    expect(monitorEventOf(step('fail', 'starting', 'failed', 'image missing'), new Set())).toEqual({
      type: 'monitor.failed',
      data: {
        monitorId: 'm1',
        pair: 'BTC-USD',
        status: 'failed',
        reason: 'image missing',
        at: at.toISOString(),
      },
    });
  });
});
