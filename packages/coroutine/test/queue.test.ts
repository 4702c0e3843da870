import { describe, expect, it } from 'vitest';
import { CoMutex, CoQueue } from '../src/index.js';

describe('CoQueue', () => {
  it('wakeNext wakes waiters one at a time in FIFO order', async () => {
    const q = new CoQueue();
    const order: number[] = [];
    const waiters = [1, 2, 3].map((n) => q.wait().then(() => order.push(n)));
    expect(q.length).toBe(3);
    expect(q.wakeNext()).toBe(true);
    await Promise.resolve();
    await Promise.resolve();
    expect(order).toEqual([1]);
    q.wakeNext();
    q.wakeNext();
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3]);
    expect(q.wakeNext()).toBe(false);
    expect(q.isEmpty()).toBe(true);
  });

  it('wakeAll wakes everyone waiting now, in order', async () => {
    const q = new CoQueue();
    const order: number[] = [];
    const waiters = [1, 2, 3].map((n) => q.wait().then(() => order.push(n)));
    expect(q.wakeAll()).toBe(3);
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3]);
    expect(q.wakeAll()).toBe(0);
  });

  it('wait(mutex) releases the mutex while parked and re-takes it before returning', async () => {
    const m = new CoMutex();
    const q = new CoQueue();
    let ready = false;
    const consumer = (async () => {
      await m.lock();
      while (!ready) await q.wait(m);
      expect(m.locked).toBe(true);
      m.unlock();
      return 'consumed';
    })();
    await new Promise((r) => setImmediate(r));
    expect(m.locked).toBe(false); // consumer is parked and let go of the mutex
    await m.withLock(() => {
      ready = true;
      q.wakeNext();
    });
    await expect(consumer).resolves.toBe('consumed');
    expect(m.locked).toBe(false);
  });
});
