import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { MonitorConvergence } from '../monitors/monitor-convergence';
import { MonitorsModule } from '../monitors/monitors.module';
import { ReconcileExecutor } from './reconcile-executor.service';
import { RelaySpecFactory } from './relay-spec.factory';
import { RelayStatus } from './relay-status.service';
import { WorkerExitEntity } from './worker-exit.entity';
import { WorkerExitsRepository } from './worker-exits.repository';
import { WorkerSupervisor } from './worker-supervisor.service';

/**
 * Global so that MonitorsService (a level below) gets MonitorConvergence, the supervisor, without importing
 * this module: the feature knows the abstract class only.
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([WorkerExitEntity]), MonitorsModule],
  providers: [
    WorkerExitsRepository,
    ReconcileExecutor,
    WorkerSupervisor,
    { provide: MonitorConvergence, useExisting: WorkerSupervisor },
    RelaySpecFactory,
    RelayStatus,
  ],
  exports: [WorkerSupervisor, MonitorConvergence, RelayStatus],
})
export class SupervisorModule {}
