/** What the API answers, as the suites read it: the API's own response types, never a copy. */
export type {
  AlertDto as AlertBody,
  AlertPageDto as AlertPageBody,
} from '../../apps/api/src/alerts/dto/alert.dto';
export type { MonitorDto as MonitorBody } from '../../apps/api/src/monitors/dto/monitor.dto';
export type { FieldError } from '../../apps/api/src/common/http-errors';

/** Every 4xx/5xx body. */
export interface ErrorBody {
  statusCode: number;
  message: string[];
  errors?: { field: string; messages: string[] }[];
}
