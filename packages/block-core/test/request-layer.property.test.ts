// Seeded property test: random unaligned reads/writes/zeroes/discards through
// a node whose driver demands 4096-byte alignment must behave exactly like a
// plain byte array. fast-check prints the seed and the shrunk counterexample
// on failure; rerun with FC_SEED=<seed> to reproduce.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { openImage } from '@tsemu/block-core';
import { createMemoryDisk } from './helpers/memory-driver.js';

const SIZE = 16 * 4096;
const ALIGN = 4096;
const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() % 1_000_000;

type Op =
  | { kind: 'write'; offset: number; length: number; byte: number }
  | { kind: 'zeroes'; offset: number; length: number }
  | { kind: 'discard'; offset: number; length: number }
  | { kind: 'read'; offset: number; length: number };

const range = fc.integer({ min: 0, max: SIZE - 1 }).chain((offset) =>
  fc.record({ offset: fc.constant(offset), length: fc.integer({ min: 0, max: Math.min(SIZE - offset, 3 * ALIGN) }) }));

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ r: range, byte: fc.integer({ min: 1, max: 255 }) }).map(({ r, byte }) => ({ kind: 'write' as const, ...r, byte })),
  range.map((r) => ({ kind: 'zeroes' as const, ...r })),
  range.map((r) => ({ kind: 'discard' as const, ...r })),
  range.map((r) => ({ kind: 'read' as const, ...r })),
);

/** The model: a byte array. Discard zeroes only the whole 4 KiB blocks inside the range (edges are dropped). */
function applyToModel(model: Uint8Array, o: Op): void {
  if (o.kind === 'write') model.fill(o.byte, o.offset, o.offset + o.length);
  else if (o.kind === 'zeroes') model.fill(0, o.offset, o.offset + o.length);
  else if (o.kind === 'discard') {
    const start = Math.ceil(o.offset / ALIGN) * ALIGN;
    const end = Math.floor((o.offset + o.length) / ALIGN) * ALIGN;
    if (end > start) model.fill(0, start, end);
  }
}

let diskSeq = 0;
async function freshBackend() {
  const name = `prop${diskSeq++}`;
  const disk = createMemoryDisk(name, SIZE);
  const blk = await openImage({
    format: 'raw', discard: 'unmap',
    options: { 'file.driver': 'test-mem', 'file.filename': name, 'file.align': String(ALIGN) },
  });
  return { disk, blk };
}

/** Writes split across a 2..3 buffer iov to exercise vector paths. */
function iovOf(length: number, byte: number): Uint8Array[] {
  const a = Math.floor(length / 3);
  return [new Uint8Array(a).fill(byte), new Uint8Array(length - a).fill(byte)];
}

async function run(blk: Awaited<ReturnType<typeof freshBackend>>['blk'], o: Op, model: Uint8Array): Promise<void> {
  switch (o.kind) {
    case 'write': await blk.writev(o.offset, iovOf(o.length, o.byte)); break;
    case 'zeroes': await blk.writeZeroes(o.offset, o.length); break;
    case 'discard': await blk.discard(o.offset, o.length); break;
    case 'read': {
      const buf = new Uint8Array(o.length);
      await blk.read(o.offset, buf);
      expect(Buffer.from(buf).equals(Buffer.from(model.subarray(o.offset, o.offset + o.length)))).toBe(true);
    }
  }
}

describe(`request layer vs in-memory model (seed ${seed})`, () => {
  it('sequential random ops match the model', async () => {
    await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
      const { disk, blk } = await freshBackend();
      const model = new Uint8Array(SIZE);
      for (const o of ops) {
        await run(blk, o, model);
        applyToModel(model, o);
      }
      expect(Buffer.from(disk.data).equals(Buffer.from(model))).toBe(true);
    }), { seed, numRuns: 150 });
  });

  it('concurrent byte-disjoint ops sharing 4 KiB blocks match the model (RMW serialisation)', async () => {
    const disjointBatch = fc.array(op, { minLength: 2, maxLength: 8 }).map((ops) => {
      const taken = new Uint8Array(SIZE);
      return ops.filter((o) => {
        if (o.kind === 'read' || o.kind === 'discard') return false;
        if (taken.subarray(o.offset, o.offset + o.length).some((x) => x)) return false;
        taken.fill(1, o.offset, o.offset + o.length);
        return true;
      });
    });
    await fc.assert(fc.asyncProperty(disjointBatch, fc.integer({ min: 0, max: 1 << 30 }), async (ops, jitterSeed) => {
      const { disk, blk } = await freshBackend();
      let state = jitterSeed | 1;
      disk.jitter = () => ((state = (state * 1103515245 + 12345) & 0x7fffffff) % 4);
      const model = new Uint8Array(SIZE);
      await Promise.all(ops.map((o) => run(blk, o, model)));
      for (const o of ops) applyToModel(model, o);
      expect(Buffer.from(disk.data).equals(Buffer.from(model))).toBe(true);
    }), { seed, numRuns: 150 });
  });
});
