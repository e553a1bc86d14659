/**
 * The API's answers as the dashboard reads them: the response DTOs of apps/api themselves (type-only imports,
 * erased from the bundle), so a change of the wire shape breaks the dashboard's build rather than the page.
 */
import type { AlertDto, AlertPageDto } from '../../api/src/alerts/dto/alert.dto';
import type { MonitorDto, WorkerStateDto } from '../../api/src/monitors/dto/monitor.dto';
import type { PriceTickDto } from '../../api/src/monitors/dto/price-tick.dto';
import type { DeliveryDto, WebhookDto, WebhookWithSecretDto } from '../../api/src/channels/dto/webhook.dto';
import type { RuleKind, RuleView } from './rules-model';

/**
 * Rules (DESIGN.md "Rules") as the contract gives them, optional: an API without them answers without these
 * fields, and the page shows what it has.
 */
interface AlertRuleFields {
  ruleId?: string;
  kind?: RuleKind;
  details?: Record<string, unknown> | null;
}
interface MonitorRuleFields {
  rules?: RuleView[];
  stopReason?: string | null;
}

export type Alert = Omit<AlertDto, keyof AlertRuleFields> & AlertRuleFields;
export type AlertPage = Omit<AlertPageDto, 'items'> & { items: Alert[] };
export type Monitor = Omit<MonitorDto, 'worker' | keyof MonitorRuleFields> & {
  worker: WorkerState | null;
} & MonitorRuleFields;
export type MonitorStatus = MonitorDto['status'];
export type WorkerState = WorkerStateDto;
/** One tick of `GET /monitors/:id/prices`, newest last. */
export type PriceTick = PriceTickDto;
/** `secret` only in the answers of create and rotate. */
export type Webhook = WebhookDto & Partial<Pick<WebhookWithSecretDto, 'secret'>>;
export type Delivery = DeliveryDto;

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** POST /monitors/backtest's answer (DESIGN.md). */
export interface BacktestResult {
  ticks: number;
  from: string | null;
  to: string | null;
  /** Each rule's first 1,000 alerts in the range. */
  alerts: unknown[];
  /** Every alert of each rule, listed or not. */
  firedByRule: Record<string, number>;
  /** Some rule fired more than `alerts` lists of it. */
  alertsTruncated: boolean;
}
