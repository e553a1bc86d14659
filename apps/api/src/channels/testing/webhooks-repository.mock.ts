import type { PublicOf } from '../../monitors/testing/monitors-repository.mock';
import type { WebhooksRepository } from '../webhooks.repository';

/** A typed mock of WebhooksRepository for unit specs. */
export function newWebhooksRepositoryMock(): jest.Mocked<PublicOf<WebhooksRepository>> {
  return {
    insert: jest.fn(),
    list: jest.fn(),
    findById: jest.fn(),
    update: jest.fn(),
    rotateSecret: jest.fn(),
    delete: jest.fn(),
    queueEvent: jest.fn().mockResolvedValue(1),
    queueFor: jest.fn(),
    page: jest.fn(),
    findDelivery: jest.fn(),
    requeue: jest.fn(),
    claimDue: jest.fn().mockResolvedValue([]),
    pauseChannel: jest.fn().mockResolvedValue(undefined),
    postpone: jest.fn().mockResolvedValue(undefined),
    recordAttempt: jest.fn().mockResolvedValue(undefined),
    disable: jest.fn().mockResolvedValue(undefined),
    deleteFinishedBefore: jest.fn().mockResolvedValue(0),
    countPending: jest.fn(),
    listOf: jest.fn(),
    upkeepDue: jest.fn().mockResolvedValue({ suppress: true, release: true, decide: true }),
    suppressSnoozed: jest.fn().mockResolvedValue(new Map()),
    decideNoise: jest.fn(),
    undecided: jest.fn().mockResolvedValue([]),
    releaseDueHolds: jest.fn().mockResolvedValue(0),
    snooze: jest.fn(),
    hasEnabled: jest.fn().mockResolvedValue(false),
  };
}
