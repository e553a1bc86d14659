import { Inject, Injectable, Optional } from '@nestjs/common';
import { legacyMoveRule, MonitorConfig, toWorkerEnv } from '@pairwatch/contracts';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { relayEndpoints } from '../runtime/relay-address';
import { WorkerRuntime, type WorkerSpec } from '../runtime/worker-runtime';
import type { MonitorEntity } from './monitor.entity';

const WORKER_REQUEST_TIMEOUT_MS = 5000;

/** The one place a stored monitor becomes what a worker is started with: only validated monitor fields go in. */
@Injectable()
export class WorkerSpecFactory {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    /** Where the runtime placed the relay, when it decides that (swarm); absent in unit specs. */
    @Optional() private readonly runtime?: WorkerRuntime,
  ) {}

  specFor(monitor: MonitorEntity): WorkerSpec {
    const config: MonitorConfig = {
      monitorId: monitor.id,
      pair: monitor.pair,
      intervalMs: monitor.intervalMs,
      rules: [
        legacyMoveRule({
          thresholdPercent: monitor.thresholdPercent,
          priceField: monitor.priceField,
          direction: monitor.direction,
          cooldownMs: monitor.cooldownMs,
        }),
      ],
    };
    return {
      monitor: config,
      env: toWorkerEnv({
        ...config,
        // UPHOLD_RELAY=on: the relay, the installation's one door to Uphold; off: Uphold itself.
        upholdApiUrl: this.config.upholdRelay
          ? relayEndpoints(this.config, this.runtime?.relayHost()).workers
          : this.config.upholdApiUrl,
        redisUrl: this.config.workerRedisUrl,
        requestTimeoutMs: WORKER_REQUEST_TIMEOUT_MS,
        priceHistoryMs: this.config.priceHistoryMs,
        logLevel: this.config.logLevel === 'silent' ? 'error' : this.config.logLevel,
      }),
    };
  }
}
