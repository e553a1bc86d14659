import type { NextFunction, Request, Response } from 'express';
import type { PairwatchMetrics } from '../telemetry/pairwatch-metrics';

/** The route label of a request no route matched (a 404, or an answer given before routing). */
export const UNMATCHED_ROUTE = 'unmatched';
/** The catch-all route Nest answers unknown paths with (404). */
const NEST_NOT_FOUND_ROUTE = '/{*path}';

/**
 * Times every request into http_request_duration_seconds, labelled by the route template that matched
 * (`/monitors/:id`, never the raw URL: ids and bogus paths must not become label values), method and status.
 * Installed first, so that answers given by guards, pipes and filters are timed too.
 */
export function httpMetricsMiddleware(metrics: PairwatchMetrics) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const end = metrics.httpDuration.startTimer();
    res.once('finish', () => {
      const template = (req.route as { path?: unknown } | undefined)?.path;
      const route =
        typeof template === 'string' && template !== NEST_NOT_FOUND_ROUTE
          ? `${req.baseUrl}${template}`
          : UNMATCHED_ROUTE;
      end({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  };
}
