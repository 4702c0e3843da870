import { expect } from 'vitest';
import { test as fcTest, fc } from '@fast-check/vitest';
import { runPool, type PoolTask } from '../src/index.js';

// Tasks finish in an order chosen by a seeded scheduler; some fail.
const taskSpecs = fc.array(fc.record({ steps: fc.nat({ max: 3 }), fails: fc.integer({ min: 0, max: 5 }).map((n) => n === 0) }), { minLength: 0, maxLength: 12 });

fcTest.prop([fc.scheduler(), fc.integer({ min: 1, max: 4 }), taskSpecs], { seed: 0xb0a7, numRuns: 150 })(
  'runPool: at most `limit` in flight, FIFO starts, first failure wins, nothing starts after it',
  async (s, limit, specs) => {
    let inFlight = 0;
    let maxInFlight = 0;
    const started: number[] = [];
    const failedAt: number[] = [];
    let firstFailureSeen = false;
    let startedAfterFailure = 0;
    function* tasks(): Generator<PoolTask> {
      for (let i = 0; i < specs.length; i++) {
        const spec = specs[i]!;
        yield async () => {
          if (firstFailureSeen) startedAfterFailure++;
          started.push(i);
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          for (let k = 0; k < spec.steps; k++) await s.schedule(Promise.resolve(), `task ${i}`);
          inFlight--;
          if (spec.fails) {
            failedAt.push(i);
            firstFailureSeen = true;
            throw new Error(`task ${i}`);
          }
        };
      }
    }
    const outcome = await s.waitFor(runPool(tasks(), limit).then(() => 'ok', (e: Error) => e.message));
    expect(maxInFlight).toBeLessThanOrEqual(limit);
    expect(inFlight).toBe(0);
    expect(started).toEqual([...started].sort((a, b) => a - b)); // FIFO start order
    expect(startedAfterFailure).toBe(0);
    if (failedAt.length === 0) {
      expect(outcome).toBe('ok');
      expect(started).toHaveLength(specs.length);
    } else {
      expect(outcome).toBe(`task ${failedAt[0]}`);
    }
  },
);
