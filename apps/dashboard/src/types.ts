/** The API's answers as the dashboard reads them (the wire JSON of apps/api's DTOs). */
import type { AlertDto, AlertPageDto } from '../../api/src/alerts/dto/alert.dto';

export type Alert = AlertDto;
export type AlertPage = AlertPageDto;

export type MonitorStatus = 'starting' | 'running' | 'stopped' | 'failed';

export interface WorkerState {
  id: string | null;
  state: string;
  restarts: number;
  exitCode: number | null;
  lastTickAt: string | null;
  lastPrice: string | null;
  referencePrice?: string | null;
  consecutiveErrors: number;
  lastError: string | null;
  stale: boolean;
}

export interface Monitor {
  id: string;
  pair: string;
  intervalMs: number;
  thresholdPercent: string;
  priceField: 'ask' | 'bid' | 'mid';
  direction: 'both' | 'up' | 'down';
  cooldownMs: number;
  status: MonitorStatus;
  reason: string | null;
  workerId: string | null;
  createdAt: string;
  stoppedAt: string | null;
  worker: WorkerState | null;
}

/** One tick of `GET /monitors/:id/prices`, newest last. */
export interface PriceTick {
  at: string;
  ask: string;
  bid: string;
  price: string;
}

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  pairs: string[];
  format: string;
  description: string | null;
  enabled: boolean;
  disabledReason: string | null;
  previousSecretValidUntil: string | null;
  createdAt: string;
  updatedAt: string;
  /** Only in the answers of create and rotate. */
  secret?: string;
}

export interface DeliveryAttempt {
  at: string;
  status: number | null;
  durationMs: number;
  error: string | null;
}

export interface Delivery {
  id: string;
  webhookId: string;
  eventType: string;
  eventId: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: DeliveryAttempt[];
  nextAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: string | null;
  createdAt: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
