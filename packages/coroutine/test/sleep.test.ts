import { describe, expect, it } from 'vitest';
import { AbortError, isAbortError, sleep } from '../src/index.js';

describe('sleep', () => {
  it('resolves after the delay', async () => {
    const t0 = performance.now();
    await sleep(20);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(15);
  });

  it('rejects at once with an AbortError if the signal is already aborted', async () => {
    const err = await sleep(10_000, AbortSignal.abort('why')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).cause).toBe('why');
  });

  it('rejects with an AbortError when aborted while sleeping, and clears its timer', async () => {
    const ac = new AbortController();
    const p = sleep(10_000, ac.signal);
    setTimeout(() => ac.abort(), 5);
    const t0 = performance.now();
    const err = await p.catch((e: unknown) => e);
    expect(isAbortError(err)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it('does not fire on an abort after it has resolved', async () => {
    const ac = new AbortController();
    await sleep(1, ac.signal);
    ac.abort(); // would throw an unhandled rejection if the listener were left behind
  });

  it('rejects invalid delays', async () => {
    await expect(sleep(Number.NaN)).rejects.toThrow(RangeError);
  });
});
