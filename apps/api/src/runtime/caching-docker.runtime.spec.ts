import { ContainerDetails, RecentListing } from './caching-docker.runtime';

type Info = { Id: string; State: { Status: string }; RestartCount: number };

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => (resolve = done));
  return { promise, resolve };
}

describe(ContainerDetails.name, () => {
  const info = (status = 'running', restarts = 0): Info => ({
    Id: 'c1',
    State: { Status: status },
    RestartCount: restarts,
  });
  let details: ContainerDetails<Info>;
  let inspect: jest.Mock<Promise<Info | null>, []>;

  beforeEach(() => {
    details = new ContainerDetails<Info>();
    inspect = jest.fn(() => Promise.resolve(info()));
  });

  it('keeps nothing while the event stream is not followed', async () => {
    await details.get('c1', 'running', inspect);
    await details.get('c1', 'running', inspect);
    expect(inspect).toHaveBeenCalledTimes(2);
  });

  it('serves a kept inspection while the stream is followed and the listed state is the inspected one', async () => {
    details.setLive(true);
    await details.get('c1', 'running', inspect);
    await expect(details.get('c1', 'running', inspect)).resolves.toEqual(info());
    expect(inspect).toHaveBeenCalledTimes(1);
    // A state the inspection did not see: inspected again.
    inspect.mockResolvedValue(info('restarting', 1));
    await expect(details.get('c1', 'restarting', inspect)).resolves.toEqual(info('restarting', 1));
    expect(inspect).toHaveBeenCalledTimes(2);
  });

  it('inspects again after an event for the container, or after the stream dropped', async () => {
    details.setLive(true);
    await details.get('c1', 'running', inspect);
    details.forget('c1');
    await details.get('c1', 'running', inspect);
    expect(inspect).toHaveBeenCalledTimes(2);
    details.setLive(false);
    details.setLive(true);
    await details.get('c1', 'running', inspect);
    expect(inspect).toHaveBeenCalledTimes(3);
  });

  it('does not keep an inspection that began before an event for its container', async () => {
    details.setLive(true);
    const slow = deferred<Info | null>();
    const first = details.get('c1', 'running', () => slow.promise);
    details.forget('c1'); // e.g. it died while being inspected: what comes back may predate that
    slow.resolve(info());
    await first;
    await details.get('c1', 'running', inspect);
    expect(inspect).toHaveBeenCalledTimes(1);
  });

  it('forgets containers a full list no longer shows, and ones that are gone', async () => {
    details.setLive(true);
    await details.get('c1', 'running', inspect);
    details.retain(new Set(['c2']));
    await details.get('c1', 'running', inspect);
    expect(inspect).toHaveBeenCalledTimes(2);
    inspect.mockResolvedValue(null);
    await expect(details.get('c1', 'exited', inspect)).resolves.toBeNull();
  });
});

describe(RecentListing.name, () => {
  let listing: RecentListing<string[]>;
  let list: jest.Mock<Promise<string[]>, []>;

  beforeEach(() => {
    listing = new RecentListing<string[]>();
    list = jest.fn().mockResolvedValue(['c1']);
  });

  it('lists every time while the event stream is not followed', async () => {
    await listing.get(60_000, list);
    await listing.get(60_000, list);
    expect(list).toHaveBeenCalledTimes(2);
  });

  it('answers the last listing again while live, young enough and nothing changed; lists again after a change', async () => {
    listing.setLive(true);
    await expect(listing.get(60_000, list)).resolves.toEqual(['c1']);
    await listing.get(60_000, list);
    expect(list).toHaveBeenCalledTimes(1);
    listing.changed();
    await listing.get(60_000, list);
    expect(list).toHaveBeenCalledTimes(2);
  });

  it('always lists without maxAgeMs, or when the last listing is older than it', async () => {
    listing.setLive(true);
    await listing.get(60_000, list);
    await listing.get(undefined, list);
    await listing.get(0, list);
    expect(list).toHaveBeenCalledTimes(3);
  });

  it('never answers a failed listing again', async () => {
    listing.setLive(true);
    list.mockRejectedValueOnce(new Error('engine timeout'));
    await expect(listing.get(60_000, list)).rejects.toThrow('engine timeout');
    await expect(listing.get(60_000, list)).resolves.toEqual(['c1']);
    expect(list).toHaveBeenCalledTimes(2);
  });

  it('drops what it kept when the event stream drops', async () => {
    listing.setLive(true);
    await listing.get(60_000, list);
    listing.setLive(false);
    listing.setLive(true);
    await listing.get(60_000, list);
    expect(list).toHaveBeenCalledTimes(2);
  });
});
