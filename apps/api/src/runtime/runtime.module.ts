import { Global, Module } from '@nestjs/common';
import { engineClients } from './docker-engine';
import { APP_CONFIG, AppConfig } from '../config/app.config';
import { RelayAddress } from '../config/relay-address';
import { CachingDockerRuntime } from './caching-docker.runtime';
import { ProcessRuntime } from './process.runtime';
import { SwarmRuntime } from './swarm.runtime';
import { WorkerRuntime } from './worker-runtime';

@Global()
@Module({
  providers: [
    RelayAddress,
    {
      provide: WorkerRuntime,
      inject: [APP_CONFIG, RelayAddress],
      useFactory: (config: AppConfig, relayAddress: RelayAddress): WorkerRuntime => {
        if (config.workerRuntime === 'process') return new ProcessRuntime(config);
        // DOCKER_HOST reaches the engine; for swarm, a Swarm manager (docs/SWARM.md).
        const { calls, events } = engineClients();
        return config.workerRuntime === 'docker'
          ? new CachingDockerRuntime(config, calls, events)
          : new SwarmRuntime(config, calls, { events }, relayAddress);
      },
    },
  ],
  exports: [WorkerRuntime, RelayAddress],
})
export class RuntimeModule {}
