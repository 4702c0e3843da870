import { describe, expect, it } from 'vitest';
import { test as fcTest, fc } from '@fast-check/vitest';
import { CoRwLock } from '../src/index.js';

describe('CoRwLock', () => {
  it('lets readers share and keeps a writer out until they leave', async () => {
    const l = new CoRwLock();
    await l.rdlock();
    await l.rdlock();
    expect(l.readerCount).toBe(2);
    let wrote = false;
    const w = l.wrlock().then(() => { wrote = true; });
    l.unlock();
    await Promise.resolve();
    expect(wrote).toBe(false);
    l.unlock();
    await w;
    expect(wrote).toBe(true);
    expect(l.writeLocked).toBe(true);
    expect(l.readerCount).toBe(0);
  });

  it('does not let later readers starve a waiting writer', async () => {
    const l = new CoRwLock();
    await l.rdlock();
    const order: string[] = [];
    const w = l.wrlock().then(() => { order.push('w'); l.unlock(); });
    const r = l.rdlock().then(() => { order.push('r2'); l.unlock(); });
    expect(l.tryRdlock()).toBe(false); // queued writer blocks new readers
    l.unlock();
    await Promise.all([w, r]);
    expect(order).toEqual(['w', 'r2']);
  });

  it('admits consecutive queued readers together after a writer', async () => {
    const l = new CoRwLock();
    await l.wrlock();
    const r1 = l.rdlock();
    const r2 = l.rdlock();
    const w2 = l.wrlock();
    l.unlock();
    await Promise.all([r1, r2]);
    expect(l.readerCount).toBe(2);
    expect(l.waiting).toBe(1);
    l.unlock();
    l.unlock();
    await w2;
    expect(l.writeLocked).toBe(true);
  });

  it('upgrades a sole reader at once and queues otherwise', async () => {
    const l = new CoRwLock();
    await l.rdlock();
    await l.upgrade();
    expect(l.writeLocked).toBe(true);
    l.downgrade();
    expect(l.readerCount).toBe(1);
    await l.rdlock(); // second reader
    let upgraded = false;
    const up = l.upgrade().then(() => { upgraded = true; });
    expect(l.readerCount).toBe(1);
    await Promise.resolve();
    expect(upgraded).toBe(false);
    l.unlock(); // the other reader leaves
    await up;
    expect(l.writeLocked).toBe(true);
  });

  it('downgrade lets queued readers in but not writers', async () => {
    const l = new CoRwLock();
    await l.wrlock();
    const r = l.rdlock();
    const w = l.wrlock();
    l.downgrade();
    await r;
    expect(l.readerCount).toBe(2);
    expect(l.waiting).toBe(1);
    l.unlock();
    l.unlock();
    await w;
  });

  it('rejects misuse', () => {
    const l = new CoRwLock();
    expect(() => l.unlock()).toThrow(/not held/);
    expect(() => l.upgrade()).toThrow(/read lock/);
    expect(() => l.downgrade()).toThrow(/write lock/);
  });
});

const plans = fc.array(
  fc.record({ write: fc.boolean(), hold: fc.nat({ max: 3 }), upgrade: fc.boolean() }),
  { minLength: 1, maxLength: 8 },
);

fcTest.prop([fc.scheduler(), plans], { seed: 0xc0ffee, numRuns: 150 })(
  'CoRwLock: writers exclusive, FIFO grants, no deadlock under random interleavings',
  async (s, tasks) => {
    const l = new CoRwLock();
    let readers = 0;
    let writers = 0;
    let violations = 0;
    const requested: number[] = [];
    const acquired: number[] = [];
    const check = (): void => {
      if (writers > 1 || (writers === 1 && readers > 0)) violations++;
    };
    const hold = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) await s.schedule(Promise.resolve(), 'hold');
    };
    const run = async (p: { write: boolean; hold: number; upgrade: boolean }, t: number): Promise<void> => {
      await s.schedule(Promise.resolve(), `t${t} start`);
      requested.push(t);
      if (p.write) {
        await l.wrlock();
        acquired.push(t);
        writers++;
        check();
        await hold(p.hold);
        writers--;
      } else {
        await l.rdlock();
        acquired.push(t);
        readers++;
        check();
        await hold(p.hold);
        if (p.upgrade) {
          readers--;
          await l.upgrade();
          writers++;
          check();
          await hold(1);
          writers--;
        } else {
          readers--;
        }
      }
      l.unlock();
    };
    await s.waitFor(Promise.all(tasks.map(run)));
    expect(violations).toBe(0);
    expect(acquired).toEqual(requested);
    expect(l.readerCount).toBe(0);
    expect(l.writeLocked).toBe(false);
    expect(l.waiting).toBe(0);
  },
);
