import { Inject, Injectable, Optional } from '@nestjs/common';
import { toRelayEnv } from '@pairwatch/contracts';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { relayEndpoints } from '../runtime/relay-address';
import { RelaySpec, RuntimeUnavailableError, WorkerRuntime } from '../runtime/worker-runtime';

const RELAY_REQUEST_TIMEOUT_MS = 5000;

/** The one place the configuration becomes what the relay is started with. */
@Injectable()
export class RelaySpecFactory {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    /** Where the runtime placed the relay, when it decides that (swarm); absent in unit specs. */
    @Optional() private readonly runtime?: WorkerRuntime,
  ) {}

  /** Throws RuntimeUnavailableError when no worker could reach a relay (relayEndpoints' problem). */
  spec(): RelaySpec {
    const endpoints = relayEndpoints(this.config, this.runtime?.relayHost());
    if (endpoints.problem) throw new RuntimeUnavailableError(endpoints.problem);
    return {
      port: this.config.relayPort,
      env: toRelayEnv({
        host: endpoints.listenHost,
        port: this.config.relayPort,
        upholdApiUrl: this.config.upholdApiUrl,
        rateLimitPerMin: this.config.upholdRateLimitPerMin,
        requestTimeoutMs: RELAY_REQUEST_TIMEOUT_MS,
        logLevel: this.config.logLevel === 'silent' ? 'error' : this.config.logLevel,
      }),
    };
  }
}
