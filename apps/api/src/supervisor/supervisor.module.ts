import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { MonitorsModule } from '../monitors/monitors.module';
import { ReconcileExecutor } from './reconcile-executor.service';
import { RelaySpecFactory } from './relay-spec.factory';
import { RelayStatus } from './relay-status.service';
import { WorkerExitEntity } from './worker-exit.entity';
import { WorkerExitsRepository } from './worker-exits.repository';
import { WorkerSupervisor } from './worker-supervisor.service';

@Module({
  imports: [TypeOrmModule.forFeature([WorkerExitEntity]), MonitorsModule],
  providers: [WorkerExitsRepository, ReconcileExecutor, WorkerSupervisor, RelaySpecFactory, RelayStatus],
  exports: [WorkerSupervisor, RelayStatus],
})
export class SupervisorModule {}
