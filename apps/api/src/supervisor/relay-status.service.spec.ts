import { RelayStatus } from './relay-status.service';

describe(RelayStatus.name, () => {
  it('knows no relay and no failure at first', () => {
    expect(new RelayStatus().current).toEqual({ workerId: null, failure: null });
  });

  it('records the running relay, clearing an earlier failure', () => {
    const status = new RelayStatus();
    status.failed(null, 'could not start');
    status.running('r-1');
    expect(status.current).toEqual({ workerId: 'r-1', failure: null });
  });

  it('says a failure is news once, and again when the reason changes', () => {
    const status = new RelayStatus();
    expect(status.failed('r-1', 'crash loop')).toBe(true);
    expect(status.failed('r-1', 'crash loop')).toBe(false);
    expect(status.failed('r-1', 'another')).toBe(true);
    expect(status.current).toEqual({ workerId: 'r-1', failure: 'another' });
  });

  it('forgets a removed relay only when it is the recorded one', () => {
    const status = new RelayStatus();
    status.running('r-1');
    status.removed('r-0');
    expect(status.current.workerId).toBe('r-1');
    status.removed('r-1');
    expect(status.current).toEqual({ workerId: null, failure: null });
  });

  it('hands out a copy: callers cannot change its state', () => {
    const status = new RelayStatus();
    status.current.workerId = 'x';
    expect(status.current.workerId).toBeNull();
  });
});
