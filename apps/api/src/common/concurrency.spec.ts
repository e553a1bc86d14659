import { KeyedQueue, waitFor } from './concurrency';

describe(KeyedQueue.name, () => {
  it('runs the calls of one key one at a time, in order, and a failed call does not hold up the next', async () => {
    const queue = new KeyedQueue();
    const seen: string[] = [];
    let release!: () => void;
    const first = queue.run('a', async () => {
      seen.push('a1 start');
      await new Promise<void>((resolve) => (release = resolve));
      seen.push('a1 end');
      throw new Error('a1 failed');
    });
    const second = queue.run('a', () => Promise.resolve(seen.push('a2')));
    const other = queue.run('b', () => Promise.resolve(seen.push('b1')));
    await other;
    expect(seen).toEqual(['a1 start', 'b1']);
    release();
    await expect(first).rejects.toThrow('a1 failed');
    await second;
    expect(seen).toEqual(['a1 start', 'b1', 'a1 end', 'a2']);
  });
});

describe('waitFor', () => {
  it('answers the first answer, or undefined once the time is up', async () => {
    let asked = 0;
    expect(await waitFor(1000, 1, () => Promise.resolve(++asked === 3 ? 'yes' : undefined))).toBe('yes');
    expect(await waitFor(20, 5, () => Promise.resolve(undefined))).toBeUndefined();
  });
});
