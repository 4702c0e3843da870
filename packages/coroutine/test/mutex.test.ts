import { describe, expect, it } from 'vitest';
import { test as fcTest, fc } from '@fast-check/vitest';
import { CoMutex } from '../src/index.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('CoMutex', () => {
  it('uncontended lock() is taken synchronously and returns one shared promise', () => {
    const m = new CoMutex();
    const a = m.lock();
    expect(m.locked).toBe(true);
    m.unlock();
    const b = m.lock();
    m.unlock();
    expect(a).toBe(b);
    expect(m.locked).toBe(false);
  });

  it('grants the lock to waiters in FIFO order', async () => {
    const m = new CoMutex();
    await m.lock();
    const order: number[] = [];
    const waiters = [1, 2, 3, 4].map(async (n) => {
      await m.lock();
      order.push(n);
      m.unlock();
    });
    expect(m.waiting).toBe(4);
    m.unlock();
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3, 4]);
    expect(m.locked).toBe(false);
  });

  it('hands off to the next waiter so tryLock cannot barge in', async () => {
    const m = new CoMutex();
    await m.lock();
    const waiter = m.lock();
    m.unlock();
    expect(m.tryLock()).toBe(false);
    await waiter;
    m.unlock();
    expect(m.tryLock()).toBe(true);
  });

  it('throws on unlock of an unlocked mutex', () => {
    expect(() => new CoMutex().unlock()).toThrow(/not locked/);
  });

  it('withLock releases the lock when fn throws and passes the result through', async () => {
    const m = new CoMutex();
    await expect(m.withLock(() => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(m.locked).toBe(false);
    await expect(m.withLock(async () => { await tick(); return 7; })).resolves.toBe(7);
    expect(m.locked).toBe(false);
  });
});

// Random interleavings from a seeded scheduler: every task yields a random
// number of times before and while holding the lock.
const taskPlans = fc.array(fc.array(fc.nat({ max: 3 }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 6 });

fcTest.prop([fc.scheduler(), taskPlans], { seed: 0x5eed, numRuns: 150 })(
  'CoMutex: exclusive and FIFO under random interleavings',
  async (s, plans) => {
    const m = new CoMutex();
    let holders = 0;
    let maxHolders = 0;
    const requested: string[] = [];
    const acquired: string[] = [];
    const run = async (plan: number[], t: number): Promise<void> => {
      for (let step = 0; step < plan.length; step++) {
        await s.schedule(Promise.resolve(), `t${t} before lock ${step}`);
        requested.push(`${t}.${step}`);
        await m.lock();
        acquired.push(`${t}.${step}`);
        holders++;
        maxHolders = Math.max(maxHolders, holders);
        for (let y = 0; y < plan[step]!; y++) await s.schedule(Promise.resolve(), `t${t} holding`);
        holders--;
        m.unlock();
      }
    };
    await s.waitFor(Promise.all(plans.map(run)));
    expect(maxHolders).toBe(1);
    expect(acquired).toEqual(requested);
    expect(m.locked).toBe(false);
  },
);
