import { EventEmitter } from 'node:events';
import { closingOnPurpose, REVIVE_DELAY_MS, reviveWhenEnded } from './redis-revive';

/** A client whose connect() ends it again `failures` times before it connects (as ioredis' race would). */
class FakeClient extends EventEmitter {
  status = 'ready';
  connects = 0;

  constructor(private failures = 0) {
    super();
  }

  end(): void {
    this.status = 'end';
    this.emit('end');
  }

  connect(): Promise<void> {
    this.connects += 1;
    if (this.failures > 0) {
      this.failures -= 1;
      this.end();
      return Promise.reject(new Error('Connection is closed.'));
    }
    this.status = 'ready';
    return Promise.resolve();
  }
}

describe('reviveWhenEnded', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('connects a client that ended by itself again, after the delay, and says so', () => {
    const client = new FakeClient();
    const revived = jest.fn();
    reviveWhenEnded(client, revived);
    client.end();
    jest.advanceTimersByTime(REVIVE_DELAY_MS - 1);
    expect(client.connects).toBe(0);
    jest.advanceTimersByTime(1);
    expect(client.connects).toBe(1);
    expect(revived).toHaveBeenCalledTimes(1);
    expect(client.status).toBe('ready');
  });

  it('tries again while a connection attempt ends it again', () => {
    const client = new FakeClient(2);
    reviveWhenEnded(client);
    client.end();
    jest.advanceTimersByTime(REVIVE_DELAY_MS * 3);
    expect(client.connects).toBe(3);
    expect(client.status).toBe('ready');
  });

  it('leaves a client its program closed ended', () => {
    const client = new FakeClient();
    reviveWhenEnded(client);
    closingOnPurpose(client);
    client.end();
    jest.advanceTimersByTime(REVIVE_DELAY_MS * 10);
    expect(client.connects).toBe(0);
    expect(client.status).toBe('end');
  });

  it('leaves it ended when the close comes while the reconnection waits', () => {
    const client = new FakeClient();
    reviveWhenEnded(client);
    client.end();
    closingOnPurpose(client);
    jest.advanceTimersByTime(REVIVE_DELAY_MS * 10);
    expect(client.connects).toBe(0);
  });
});
