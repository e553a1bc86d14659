import type { MonitorsRepository } from '../monitors.repository';

/** The public surface of a class, for typed mocks of repositories with private fields. */
export type PublicOf<T> = { [K in keyof T]: T[K] };

/** A typed mock of MonitorsRepository for unit specs. */
export function newMonitorsRepositoryMock(): jest.Mocked<PublicOf<MonitorsRepository>> {
  return {
    findById: jest.fn(),
    exists: jest.fn(),
    setMutedUntil: jest.fn(),
    updateConfig: jest.fn(),
    idsOfPairTickingSince: jest.fn(),
    findActiveByPair: jest.fn(),
    list: jest.fn(),
    listActive: jest.fn(),
    countByStatus: jest.fn(),
    activeDemandAndFailed: jest.fn(),
    insertWithinBudget: jest.fn(),
    moveWithinBudget: jest.fn(),
    move: jest.fn(),
    deleteIfIn: jest.fn(),
    markStale: jest.fn(),
  };
}
