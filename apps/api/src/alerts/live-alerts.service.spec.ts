import { HttpException } from '@nestjs/common';
import { loadConfig } from '../config/app.config';
import type {
  AlertNotificationHandlers,
  AlertNotificationsRepository,
} from './alert-notifications.repository';
import type { StreamSink } from './alert-stream-client';
import type { AlertsRepository } from './alerts.repository';
import { LiveAlertsService } from './live-alerts.service';
import { sampleAlertDto } from './testing/alert-event.fixture';

const ALERT = sampleAlertDto();

function sink(): StreamSink & { chunks: string[]; destroyed: boolean } {
  const s = {
    chunks: [] as string[],
    destroyed: false,
    write: (chunk: string) => void s.chunks.push(chunk),
    pendingBytes: () => 0,
    drained: () => Promise.resolve(),
    destroy: () => void (s.destroyed = true),
  };
  return s;
}

function setup(env: Record<string, string> = {}) {
  let handlers: AlertNotificationHandlers | undefined;
  const notifications = {
    ready: true,
    subscribe: jest.fn((h: AlertNotificationHandlers) => {
      handlers = h;
      return () => (handlers = undefined);
    }),
  };
  const alerts = { history: jest.fn().mockResolvedValue([]) };
  const service = new LiveAlertsService(
    notifications as unknown as AlertNotificationsRepository,
    alerts as unknown as AlertsRepository,
    loadConfig({ SSE_MAX_CLIENTS: '2', SSE_HEARTBEAT_MS: '1000', ...env }),
  );
  service.onModuleInit();
  return { service, notifications, alerts, handlers: () => handlers as AlertNotificationHandlers };
}

describe('LiveAlertsService', () => {
  afterEach(() => jest.useRealTimers());

  it('offers each notified alert to every open stream, framed once', () => {
    const { service, handlers } = setup();
    const a = sink();
    const b = sink();
    service.open({}, a);
    service.open({ pair: 'ETH-USD' }, b);
    expect(handlers().wanted()).toBe(true);
    handlers().alert(ALERT);
    expect(a.chunks).toHaveLength(1);
    expect(a.chunks[0]).toMatch(/^event: alert\nid: \S+\ndata: \{/);
    expect(b.chunks).toHaveLength(0);
    void service.onApplicationShutdown();
  });

  it('wants no notification while no stream is open', () => {
    const { service, handlers } = setup();
    expect(handlers().wanted()).toBe(false);
    void service.onApplicationShutdown();
  });

  it('answers 503 past SSE_MAX_CLIENTS, and again accepts once one closed', () => {
    const { service } = setup();
    const first = service.open({}, sink());
    service.open({}, sink());
    expect(() => service.open({}, sink())).toThrow(HttpException);
    try {
      service.open({}, sink());
    } catch (error) {
      expect((error as HttpException).getStatus()).toBe(503);
    }
    first.close('client');
    expect(service.size).toBe(1);
    expect(() => service.open({}, sink())).not.toThrow();
    void service.onApplicationShutdown();
  });

  it('answers 503 while the notifications cannot be received', () => {
    const { service, notifications } = setup();
    notifications.ready = false;
    let refusal: unknown;
    try {
      service.open({}, sink());
    } catch (error) {
      refusal = error;
    }
    expect((refusal as HttpException).getStatus()).toBe(503);
    expect(JSON.stringify((refusal as HttpException).getResponse())).toMatch(/not available/);
    void service.onApplicationShutdown();
  });

  it('ends every stream when the notifications connection is lost (they resume from their last id)', () => {
    const { service, handlers } = setup();
    const a = sink();
    service.open({}, a);
    handlers().lost();
    expect(a.destroyed).toBe(true);
    expect(service.size).toBe(0);
    void service.onApplicationShutdown();
  });

  it('writes a heartbeat to every stream each SSE_HEARTBEAT_MS', async () => {
    jest.useFakeTimers();
    const { service } = setup();
    const a = sink();
    service.open({}, a);
    await jest.advanceTimersByTimeAsync(2000);
    expect(a.chunks).toEqual([': heartbeat\n\n', ': heartbeat\n\n']);
    await service.onApplicationShutdown();
  });

  it('replays from the history with the stream filter, after the cursor', async () => {
    const { service, alerts } = setup();
    const client = service.open({ pair: 'BTC-USD' }, sink());
    const after = { observedAt: new Date(ALERT.observedAt), id: ALERT.id };
    await service.resume(client, { pair: 'BTC-USD' }, after);
    expect(alerts.history).toHaveBeenCalledWith({ pair: 'BTC-USD', newerThan: after, limit: 500 });
    void service.onApplicationShutdown();
  });

  it('closes a stream whose replay fails', async () => {
    const { service, alerts } = setup();
    alerts.history.mockRejectedValueOnce(new Error('db down'));
    const s = sink();
    const client = service.open({}, s);
    await service.resume(client, {}, { observedAt: new Date(ALERT.observedAt), id: ALERT.id });
    expect(client.closed).toBe(true);
    expect(s.destroyed).toBe(true);
    expect(service.size).toBe(0);
    void service.onApplicationShutdown();
  });
});
