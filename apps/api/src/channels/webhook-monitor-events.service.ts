import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Subscription } from 'rxjs';
import { MonitorLifecycle, MonitorTransition } from '../monitors/monitor-lifecycle.service';
import type { WebhookEvent } from '../notify/webhook-events';
import { WebhooksRepository } from './webhooks.repository';

/**
 * The webhook event a transition makes, if any: `monitor.failed` (with its reason) when a monitor fails,
 * `monitor.stale` when its worker's report expired (once per episode), `monitor.recovered` when one that had
 * failed runs again (`recovering` holds the monitors put back to work after failing) or a stale one reports
 * again.
 */
export function monitorEventOf(
  transition: MonitorTransition,
  recovering: Set<string>,
): { type: WebhookEvent; data: Record<string, unknown> } | undefined {
  const data = {
    monitorId: transition.monitorId,
    pair: transition.pair,
    status: transition.to,
    reason: transition.reason,
    at: transition.at.toISOString(),
  };
  if (transition.intent === 'markStale') return { type: 'monitor.stale', data };
  if (transition.intent === 'markReporting') return { type: 'monitor.recovered', data };
  // A monitor that stopped itself (`rules done`: every rule fired its maxFires or expired); a request's stop,
  // which has no reason, is the requester's own doing and announced to no one.
  if (transition.intent === 'stop' && transition.reason !== null) {
    recovering.delete(transition.monitorId);
    return { type: 'monitor.stopped', data };
  }
  if (transition.intent === 'fail') {
    recovering.delete(transition.monitorId);
    return { type: 'monitor.failed', data };
  }
  if (transition.intent === 'reactivate' && transition.from === 'failed') {
    recovering.add(transition.monitorId);
    return undefined;
  }
  if (
    transition.to === 'running' &&
    transition.from === 'starting' &&
    recovering.delete(transition.monitorId)
  ) {
    return { type: 'monitor.recovered', data };
  }
  if (transition.to !== 'starting') recovering.delete(transition.monitorId);
  return undefined;
}

/** Queues the monitor events of MonitorLifecycle's transitions as deliveries. */
@Injectable()
export class WebhookMonitorEvents implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(WebhookMonitorEvents.name);
  private readonly recovering = new Set<string>();
  private subscription: Subscription | undefined;

  constructor(
    private readonly lifecycle: MonitorLifecycle,
    private readonly webhooks: WebhooksRepository,
  ) {}

  onModuleInit(): void {
    this.subscription = this.lifecycle.transitions.subscribe((transition) => {
      const event = monitorEventOf(transition, this.recovering);
      if (event === undefined) return;
      this.webhooks
        .queueEvent({
          type: event.type,
          id: randomUUID(),
          pair: transition.pair,
          occurredAt: transition.at,
          data: event.data,
        })
        .catch((error: unknown) =>
          this.logger.error(
            `could not queue ${event.type} of ${transition.monitorId}: ${(error as Error).message}`,
          ),
        );
    });
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
  }
}
