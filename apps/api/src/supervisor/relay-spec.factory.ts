import { Inject, Injectable } from '@nestjs/common';
import { toRelayEnv } from '@pairwatch/contracts';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { RelayAddress } from '../config/relay-address';
import { RelaySpec, RuntimeUnavailableError } from '../runtime/worker-runtime';

const RELAY_REQUEST_TIMEOUT_MS = 5000;

/** The one place the configuration becomes what the relay is started with. */
@Injectable()
export class RelaySpecFactory {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly relayAddress: RelayAddress,
  ) {}

  /** Throws RuntimeUnavailableError when no worker could reach a relay (relayEndpoints' problem). */
  spec(): RelaySpec {
    const endpoints = this.relayAddress.endpoints();
    if (endpoints.problem) throw new RuntimeUnavailableError(endpoints.problem);
    return {
      role: 'relay',
      port: this.config.relayPort,
      env: toRelayEnv({
        host: endpoints.listenHost,
        port: this.config.relayPort,
        upholdApiUrl: this.config.upholdApiUrl,
        rateLimitPerMin: this.config.upholdRateLimitPerMin,
        requestTimeoutMs: RELAY_REQUEST_TIMEOUT_MS,
        logLevel: this.config.logLevel === 'silent' ? 'error' : this.config.logLevel,
        redis: this.config.workerRedis,
      }),
    };
  }
}
