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
        switch (config.workerRuntime) {
          case 'docker': {
            const { calls, events } = engineClients();
            return new CachingDockerRuntime(config, calls, events);
          }
          case 'process':
            return new ProcessRuntime(config);
          case 'swarm': {
            // DOCKER_HOST must reach a Swarm manager (docs/SWARM.md).
            const { calls, events } = engineClients();
            return new SwarmRuntime(config, calls, { events }, relayAddress);
          }
        }
      },
    },
  ],
  exports: [WorkerRuntime, RelayAddress],
})
export class RuntimeModule {}
