import { Subject } from 'rxjs';
import type { MonitorLifecycle, MonitorTransition } from '../monitor-lifecycle.service';
import type { PublicOf } from './monitors-repository.mock';

/** A typed mock of MonitorLifecycle for unit specs: every transition succeeds unless a spec says otherwise. */
export function newMonitorLifecycleMock(): jest.Mocked<PublicOf<MonitorLifecycle>> {
  return {
    transitions: new Subject<MonitorTransition>().asObservable(),
    onModuleDestroy: jest.fn(),
    create: jest.fn(),
    markRunning: jest.fn().mockResolvedValue(true),
    fail: jest.fn().mockResolvedValue(true),
    stop: jest.fn().mockResolvedValue(true),
    reactivate: jest.fn().mockResolvedValue(true),
    discard: jest.fn().mockResolvedValue(true),
    markStale: jest.fn().mockResolvedValue(true),
    markReporting: jest.fn().mockResolvedValue(true),
  };
}
