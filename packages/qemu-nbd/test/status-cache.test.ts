// The export's block-status cache must never let a sparse READ or a
// BLOCK_STATUS reply describe the image as it was before a write: unit
// checks of the cache's rules (including an answer that arrives after a
// write began), then seeded random sessions of writes, zero writes and
// trims interleaved with structured sparse reads and block status, checked
// against a model of the image.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { openImage, type BlockBackend, type BlockStatus } from '@tsemu/block-core';
import { NBD_CMD_FLAG_FUA, NBD_STATE_ZERO, NbdCommand } from '@tsemu/block-nbd';
import { NbdServer } from '../src/index.js';
import { StatusCache, STATUS_DATA, STATUS_ZERO } from '../src/status-cache.js';
import { cleanupDir, pattern, run, tempDir, waitFor } from './helpers.js';
import { RawSession } from './raw-client.js';

/** A backend whose block status answers wait until the test releases them. */
function fakeBackend(): { blk: BlockBackend; calls: number[]; answer: (st: Partial<BlockStatus>) => void } {
  const pending: ((st: BlockStatus) => void)[] = [];
  const calls: number[] = [];
  const blk = {
    blockStatusAbove: (offset: number) => {
      calls.push(offset);
      return new Promise<BlockStatus>((resolve) => pending.push(resolve));
    },
  } as unknown as BlockBackend;
  const answer = (st: Partial<BlockStatus>): void => pending.shift()!({ length: 0, data: true, zero: false, allocated: true, ...st });
  return { blk, calls, answer };
}

describe('StatusCache rules', () => {
  it('remembers runs, answers inside them without asking again, and forgets them on writes', async () => {
    const { blk, calls, answer } = fakeBackend();
    const cache = new StatusCache(blk, () => 1 << 30);
    const out = new Float64Array(2);
    const first = cache.lookup(0, 4096, out);
    answer({ length: 1 << 20 });
    await first;
    expect([...out]).toEqual([1 << 20, STATUS_DATA]);
    await cache.lookup(65536, 131072, out); // inside the run: no new call
    expect(calls).toEqual([0]);
    const hole = cache.lookup(1 << 20, (1 << 20) + 4096, out);
    answer({ length: 1 << 20, data: false, zero: true });
    await hole;
    expect([...out]).toEqual([2 << 20, STATUS_ZERO]);
    expect(cache.find(1 << 20)).toBeGreaterThanOrEqual(0);
    cache.beginWrite();
    expect(cache.find(0)).toBe(-1);
    cache.endWrite();
    expect(cache.find(1 << 20)).toBe(-1);
  });

  it('an answer that raced with a write is used once but not kept', async () => {
    const { blk, answer } = fakeBackend();
    const cache = new StatusCache(blk, () => 1 << 30);
    const out = new Float64Array(2);
    // Started before the write, answered after it began: the image may have changed under it.
    const early = cache.lookup(0, 4096, out);
    cache.beginWrite();
    answer({ length: 4096, data: false, zero: true });
    await early;
    expect(cache.find(0)).toBe(-1);
    // Started while the write runs: also not kept, even if answered after it ended.
    const during = cache.lookup(0, 4096, out);
    cache.endWrite();
    answer({ length: 4096 });
    await during;
    expect(cache.find(0)).toBe(-1);
    // Quiet again: kept.
    const after = cache.lookup(0, 4096, out);
    answer({ length: 8192 });
    await after;
    expect(cache.find(4096)).toBeGreaterThanOrEqual(0);
  });

  it('keeps runs disjoint when a window overlaps a run it already knows', async () => {
    const { blk, calls, answer } = fakeBackend();
    const cache = new StatusCache(blk, () => 1 << 30);
    const out = new Float64Array(2);
    const a = cache.lookup(8192, 9000, out);
    answer({ length: 4096, zero: true, data: false });
    await a;
    const b = cache.lookup(0, 4096, out);
    answer({ length: 1 << 20 }); // the driver's run reaches past the known one
    await b;
    expect(cache.end(cache.find(0))).toBe(8192);
    expect(cache.flagsOf(cache.find(8192))).toBe(STATUS_ZERO);
    expect(calls).toEqual([8192, 0]);
  });
});

const SIZE = 4 << 20;
const GRAIN = 4096;

describe('seeded random sessions against a model of the image', () => {
  let dir: string;
  let server: NbdServer;
  let sock: string;

  beforeAll(async () => {
    dir = tempDir('tsemu-nbd-status-');
    sock = join(dir, 'nbd.sock');
    const image = join(dir, 'disk.raw');
    expect((await run('qemu-img', ['create', '-f', 'raw', image, String(SIZE)])).code).toBe(0);
    // discard=unmap: TRIM and WRITE_ZEROES punch holes, so zero runs come and go.
    const backend = await openImage({ filename: image, format: 'raw', discard: 'unmap' });
    server = await NbdServer.create({ exports: [{ name: 'd', backend }], shared: 4, persistent: true });
    await server.listen({ type: 'unix', path: sock });
  });

  afterAll(async () => {
    await server?.close();
    cleanupDir(dir);
  });

  it('sparse reads and block status always show the latest writes', async () => {
    const seed = Number(process.env.NBD_FUZZ_SEED ?? Date.now() % 1_000_000);
    const runs = Number(process.env.NBD_FUZZ_RUNS ?? 40);
    console.log(`status-cache fuzz: seed=${seed} runs=${runs} (replay with NBD_FUZZ_SEED=${seed})`);
    const model = new Uint8Array(SIZE);
    const s = await RawSession.open(sock);
    await s.go('d', true);
    let handle = 0;
    const range = fc.tuple(fc.integer({ min: 0, max: SIZE / GRAIN - 1 }), fc.integer({ min: 1, max: 64 }))
      .map(([g, n]) => [g * GRAIN, Math.min(n * GRAIN, SIZE - g * GRAIN)] as const);
    const op = fc.tuple(fc.constantFrom('write', 'zero', 'trim', 'read', 'status'), range, fc.integer({ min: 1, max: 255 }));
    await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
      for (const [kind, [offset, length], seedByte] of ops) {
        const h = ++handle;
        if (kind === 'write') {
          const data = pattern(length, seedByte);
          s.request(NbdCommand.WRITE, NBD_CMD_FLAG_FUA, h, offset, length, data);
          model.set(data, offset);
        } else if (kind === 'zero' || kind === 'trim') {
          s.request(kind === 'zero' ? NbdCommand.WRITE_ZEROES : NbdCommand.TRIM, 0, h, offset, length);
          model.fill(0, offset, offset + length);
        }
        if (kind === 'write' || kind === 'zero' || kind === 'trim') {
          // Like qemu-nbd, only READs get structured replies.
          expect(await s.simpleReply()).toEqual({ error: 0, handle: h });
          continue;
        }
        // Reads and status look at a wider range (at least 64 KiB, so the read is a sparse one).
        const start = Math.max(0, Math.min(offset, SIZE - (256 << 10)));
        const len = Math.max(length, 256 << 10);
        if (kind === 'read') {
          s.request(NbdCommand.READ, 0, h, start, len);
          const r = (await s.structuredReply())!;
          const got = new Uint8Array(len);
          for (const [type, off, n] of r.chunks) {
            if (type === 1) got.set(r.data.get(off)!, off - start);
            else expect(type).toBe(2); // a hole reads as zeroes
            if (type === 2) expect(model.subarray(off, off + n).every((b) => b === 0)).toBe(true);
          }
          expect(Buffer.compare(got, model.subarray(start, start + len))).toBe(0);
        } else {
          s.request(NbdCommand.BLOCK_STATUS, 0, h, start, len);
          const r = (await s.structuredReply())!;
          expect(r.chunks[0]![0]).toBe(5);
          // Extents tile the start of the range; every one flagged zero must be zeroes in the model.
          const v = new DataView(r.bodies[0]!.buffer, r.bodies[0]!.byteOffset);
          let pos = start;
          for (let at = 4; at < r.bodies[0]!.byteLength; at += 8) {
            const n = v.getUint32(at);
            if ((v.getUint32(at + 4) & NBD_STATE_ZERO) !== 0) expect(model.subarray(pos, pos + n).every((b) => b === 0)).toBe(true);
            pos += n;
          }
          expect(pos).toBeGreaterThan(start);
          expect(pos).toBeLessThanOrEqual(start + len);
        }
      }
    }), { seed, numRuns: runs });
    s.destroy();
    await waitFor(() => server.clientCount === 0, 'cleanup');
  });
});
