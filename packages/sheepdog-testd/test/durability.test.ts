// Issue 5, proof 2: after "lose the cache" (a daemon crash), every write
// acknowledged in writethrough or directsync is there; in writeback, every
// write acknowledged before a completed flush is. Seeded; the seed is printed.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { BlockBackend } from '@tsemu/block-core';
import { startPeer, createVdi, openVdi, pattern, type Peer } from './helpers.js';

const SIZE = 24 << 20; // six 4 MiB objects
const SEED = Number(process.env.SD_SEED ?? Date.now() % 1e9);

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x / 0x100000000;
  };
}

interface Outcome {
  /** Image content if every acknowledged write survived. */
  acked: Uint8Array;
  /** Content at the last completed flush. */
  durable: Uint8Array;
  /** Writes acknowledged after that flush. */
  afterFlush: Array<{ offset: number; data: Uint8Array }>;
}

/** Random writes (some across object boundaries) and, with `flushEvery`, guest flushes. */
async function workload(bb: BlockBackend, seed: number, ops: number, flushChance: number): Promise<Outcome> {
  const rand = rng(seed);
  const acked = new Uint8Array(SIZE);
  let durable = new Uint8Array(SIZE);
  let afterFlush: Outcome['afterFlush'] = [];
  for (let i = 0; i < ops; i++) {
    if (rand() < flushChance) {
      await bb.flush();
      durable = acked.slice();
      afterFlush = [];
      continue;
    }
    const length = 1 + Math.floor(rand() * 96 * 1024);
    // Bias towards object boundaries so splits and multi-object inode updates happen.
    const near = (1 + Math.floor(rand() * 5)) * (4 << 20);
    const offset = rand() < 0.3 ? Math.max(0, near - Math.floor(rand() * length)) : Math.floor(rand() * (SIZE - length));
    const data = pattern(length, seed + i);
    await bb.write(offset, data);
    acked.set(data, offset);
    afterFlush.push({ offset, data });
  }
  return { acked, durable, afterFlush };
}

async function readAll(peer: Peer, name: string): Promise<Uint8Array> {
  const bb = await openVdi(peer.server, name, 'directsync');
  const buf = new Uint8Array(SIZE);
  await bb.read(0, buf);
  await bb.close();
  return buf;
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

describe(`durability after a lost daemon cache (seed=${SEED})`, () => {
  let peer: Peer;
  let n = 0;
  beforeAll(async () => {
    console.log(`durability seed=${SEED} (set SD_SEED to replay)`);
    peer = await startPeer({ flavour: '0.5.6' });
  });
  afterAll(async () => {
    await peer.cleanup();
  });

  async function crashAfter(mode: string, flushChance: number, seedOffset: number) {
    const name = `dur${++n}`;
    await createVdi(peer.server, name, SIZE);
    const bb = await openVdi(peer.server, name, mode);
    const outcome = await workload(bb, SEED + seedOffset, 40, flushChance);
    const lost = await peer.server.loseCache();
    await bb.close();
    return { outcome, lost, after: await readAll(peer, name) };
  }

  for (const [mode, k] of [['writethrough', 1], ['directsync', 2]] as const) {
    it(`${mode}: every acknowledged write survives`, async () => {
      const { outcome, lost, after } = await crashAfter(mode, 0, k);
      expect(lost).toBe(0); // nothing was left dirty in the daemon's cache
      expect(firstDifference(after, outcome.acked)).toBe(-1);
    });
  }

  it('writeback: every write acknowledged before a completed flush survives', async () => {
    const { outcome, lost, after } = await crashAfter('writeback', 0.15, 3);
    if (outcome.afterFlush.length > 0) expect(lost).toBeGreaterThan(0); // the crash did cost something
    // Each byte holds its value at the last flush, or one written after it.
    for (let i = 0; i < SIZE; i++) {
      if (after[i] === outcome.durable[i]) continue;
      const explained = outcome.afterFlush.some((w) => i >= w.offset && i < w.offset + w.data.length && w.data[i - w.offset] === after[i]);
      if (!explained) expect.fail(`byte ${i}: ${after[i]} is neither the flushed value ${outcome.durable[i]} nor a later write`);
    }
  });

  it('control: writes never flushed (cache=unsafe) are really lost, so the tests above have teeth', async () => {
    const { outcome, lost, after } = await crashAfter('unsafe', 0, 4);
    expect(lost).toBeGreaterThan(0);
    expect(firstDifference(after, outcome.acked)).not.toBe(-1);
    expect(after.every((b) => b === 0)).toBe(true); // even the allocations (inode updates) were in the cache
  });
});
