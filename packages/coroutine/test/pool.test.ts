import { describe, expect, it } from 'vitest';
import { BoundedPool, isAbortError, runPool, sleep, type PoolTask } from '../src/index.js';

/** A task that records concurrency and finishes after `ms`. */
function tracker() {
  const state = { running: 0, max: 0, started: [] as number[], finished: [] as number[] };
  const task = (id: number, ms: number, fail?: Error): PoolTask => async () => {
    state.started.push(id);
    state.running++;
    state.max = Math.max(state.max, state.running);
    await sleep(ms);
    state.running--;
    state.finished.push(id);
    if (fail) throw fail;
  };
  return { state, task };
}

describe('BoundedPool', () => {
  it('never runs more than `limit` tasks and starts them in submission order', async () => {
    const pool = new BoundedPool(3);
    const { state, task } = tracker();
    for (let i = 0; i < 10; i++) await pool.run(task(i, 2 + (i % 3)));
    await pool.drain();
    expect(state.max).toBe(3);
    expect(state.started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(state.finished).toHaveLength(10);
    expect(pool.inFlight).toBe(0);
  });

  it('run() resolves only once the task has started (backpressure)', async () => {
    const pool = new BoundedPool(1);
    let release!: () => void;
    await pool.run(() => new Promise<void>((r) => { release = r; }));
    let started = false;
    const second = pool.run(async () => { started = true; });
    await sleep(5);
    expect(started).toBe(false);
    release();
    await second;
    expect(started).toBe(true);
    await pool.drain();
  });

  it('drain() rejects with the first error, keeps the others, and stops scheduling', async () => {
    const pool = new BoundedPool(2);
    const { state, task } = tracker();
    const first = new Error('first');
    const second = new Error('second');
    await pool.run(task(0, 5, first));
    await pool.run(task(1, 15, second));
    const third = pool.run(task(2, 1)).catch((e: unknown) => e); // waits for a slot, then is refused
    await expect(pool.drain()).rejects.toBe(first);
    expect(await third).toBe(first);
    expect(pool.errors).toEqual([first, second]);
    expect(state.started).toEqual([0, 1]);
    await expect(pool.run(task(3, 1))).rejects.toBe(first);
  });

  it('treats a task that throws synchronously as a failure', async () => {
    const pool = new BoundedPool(1);
    const boom = new Error('sync');
    await pool.run(() => { throw boom; });
    await expect(pool.drain()).rejects.toBe(boom);
  });

  it('cancellation via AbortSignal stops scheduling and aborts the tasks\' signal', async () => {
    const ac = new AbortController();
    const pool = new BoundedPool(1, { signal: ac.signal });
    const running = pool.run((signal) => sleep(10_000, signal));
    await running;
    const queued = pool.run(async () => { throw new Error('must not start'); }).catch((e: unknown) => e);
    ac.abort('stop');
    expect(isAbortError(await queued)).toBe(true);
    const err = await pool.drain().catch((e: unknown) => e);
    expect(isAbortError(err)).toBe(true);
    expect((err as Error).cause).toBe('stop');
    expect(pool.signal.aborted).toBe(true);
  });

  it('rejects a bad limit', () => {
    expect(() => new BoundedPool(0)).toThrow(RangeError);
    expect(() => new BoundedPool(1.5)).toThrow(RangeError);
  });

  it('drain() on an idle pool resolves at once', async () => {
    await new BoundedPool(4).drain();
  });
});

describe('runPool', () => {
  it('pulls an async generator lazily, one task per free slot', async () => {
    const { state, task } = tracker();
    let pulled = 0;
    let maxAhead = 0;
    async function* tasks() {
      for (let i = 0; i < 12; i++) {
        pulled++;
        maxAhead = Math.max(maxAhead, pulled - state.finished.length);
        yield task(i, 1);
      }
    }
    await runPool(tasks(), 4);
    expect(state.finished).toHaveLength(12);
    expect(state.max).toBeLessThanOrEqual(4);
    expect(maxAhead).toBeLessThanOrEqual(5); // at most `limit` running + the one being pulled
  });

  it('accepts a plain array of tasks', async () => {
    const { state, task } = tracker();
    await runPool([task(0, 1), task(1, 1), task(2, 1)], 2);
    expect(state.finished.sort()).toEqual([0, 1, 2]);
  });

  it('rejects with the first task error and closes the generator', async () => {
    const boom = new Error('boom');
    let closed = false;
    let pulled = 0;
    async function* tasks() {
      try {
        for (let i = 0; i < 1000; i++) {
          pulled++;
          yield i === 3 ? async () => { throw boom; } : () => sleep(2);
        }
      } finally {
        closed = true;
      }
    }
    await expect(runPool(tasks(), 2)).rejects.toBe(boom);
    expect(closed).toBe(true);
    expect(pulled).toBeLessThan(20);
  });

  it('propagates an error thrown by the generator after in-flight tasks settle', async () => {
    const bad = new Error('source failed');
    let finished = 0;
    async function* tasks() {
      yield async () => { await sleep(10); finished++; };
      throw bad;
    }
    await expect(runPool(tasks(), 2)).rejects.toBe(bad);
    expect(finished).toBe(1);
  });

  it('stops when the signal aborts', async () => {
    const ac = new AbortController();
    let started = 0;
    async function* tasks() {
      for (;;) yield async () => { started++; await sleep(1); };
    }
    setTimeout(() => ac.abort(), 20);
    const err = await runPool(tasks(), 2, { signal: ac.signal }).catch((e: unknown) => e);
    expect(isAbortError(err)).toBe(true);
    expect(started).toBeGreaterThan(0);
  });
});
