import { Inject, Injectable } from '@nestjs/common';
import { MonitorConfig, toWorkerEnv } from '@pairwatch/contracts';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { RelayAddress } from '../config/relay-address';
import type { WorkerSpec } from '../runtime/worker-runtime';
import { rulesOf, type MonitorEntity } from './monitor.entity';

const WORKER_REQUEST_TIMEOUT_MS = 5000;

/** The one place a stored monitor becomes what a worker is started with: only validated monitor fields go in. */
@Injectable()
export class WorkerSpecFactory {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly relayAddress: RelayAddress,
  ) {}

  specFor(monitor: MonitorEntity): WorkerSpec {
    const config: MonitorConfig = {
      monitorId: monitor.id,
      pair: monitor.pair,
      intervalMs: monitor.intervalMs,
      // A legacy one-move-rule monitor gets the same variables as before (toWorkerEnv), others RULES.
      rules: rulesOf(monitor),
    };
    return {
      role: 'worker',
      monitor: config,
      env: toWorkerEnv({
        ...config,
        // UPHOLD_RELAY=on: the relay, the installation's one door to Uphold; off: Uphold itself.
        upholdApiUrl: this.config.upholdRelay
          ? this.relayAddress.endpoints().workers
          : this.config.upholdApiUrl,
        redis: this.config.workerRedis,
        requestTimeoutMs: WORKER_REQUEST_TIMEOUT_MS,
        priceHistoryMs: this.config.priceHistoryMs,
        logLevel: this.config.logLevel === 'silent' ? 'error' : this.config.logLevel,
      }),
    };
  }
}
