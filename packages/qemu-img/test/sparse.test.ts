import { describe, expect, it } from 'vitest';
import { holeAlignment, SparseRanges, splitSparse } from '../src/sparse.js';

function splitWith(bytes: Uint8Array, minSparse: number, offset: number, native: boolean): string[] {
  const ranges = new SparseRanges(bytes.length);
  ranges.count = 3; // stale content from an earlier chunk must be replaced
  splitSparse(bytes, new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2), bytes.length, offset, minSparse, ranges, native);
  const out: string[] = [];
  for (let i = 0; i < ranges.count; i++) out.push(`${ranges.hole[i] ? 'hole' : 'data'} ${ranges.start[i]}-${ranges.end[i]}`);
  return out;
}

/** Both scanners (host-io's native one and the JS loop) must give the same ranges. */
async function split(bytes: Uint8Array, minSparse: number, offset = 0): Promise<string[]> {
  const js = splitWith(bytes, minSparse, offset, false);
  expect(splitWith(bytes, minSparse, offset, true)).toEqual(js);
  return js;
}

/** mulberry32: a small seeded generator, so a failing case can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('splitSparse', () => {
  it('leaves a 4 KiB-aligned zero run of at least -S bytes as a hole', async () => {
    const buf = new Uint8Array(64 * 1024).fill(1);
    buf.fill(0, 16384, 32768);
    expect(await split(buf, 4096)).toEqual(['data 0-16384', 'hole 16384-32768', 'data 32768-65536']);
  });

  it('writes zero runs shorter than -S', async () => {
    const buf = new Uint8Array(64 * 1024).fill(1);
    buf.fill(0, 16384, 32768);
    expect(await split(buf, 32768)).toEqual(['data 0-65536']);
  });

  it('trims holes to 4 KiB boundaries of the image offset', async () => {
    const buf = new Uint8Array(16384).fill(1);
    buf.fill(0, 512, 12800); // zero sectors 1..24, aligned part is 4096..12288
    expect(await split(buf, 4096)).toEqual(['data 0-4096', 'hole 4096-12288', 'data 12288-16384']);
  });

  it('treats an all-zero buffer as one hole and handles a partial last sector', async () => {
    expect(await split(new Uint8Array(8192 + 100), 4096)).toEqual(['hole 0-8292']);
    const tail = new Uint8Array(8192 + 100);
    tail[8192 + 50] = 7;
    expect(await split(tail, 4096)).toEqual(['hole 0-8192', 'data 8192-8292']);
  });

  it('aligns holes to the largest power of two not above -S, at least 4 KiB', async () => {
    expect([512, 4096, 8192, 12288, 65536].map(holeAlignment)).toEqual([4096, 4096, 8192, 8192, 65536]);
    const buf = new Uint8Array(128 * 1024).fill(1);
    buf.fill(0, 8192, 22528); // 14 KiB of zeroes, but only 8 KiB between 8 KiB boundaries
    buf.fill(0, 65536, 86016); // 20 KiB, 16 KiB of it aligned
    expect(await split(buf, 12288)).toEqual(['data 0-65536', 'hole 65536-81920', 'data 81920-131072']);
  });

  it('native and JS scanners agree on random buffers (seeded)', () => {
    const seed = Number(process.env.SPARSE_SEED ?? Date.now() % 1e9);
    console.log(`sparse fuzz seed ${seed} (SPARSE_SEED=${seed} replays it)`);
    const rand = rng(seed);
    let holes = 0;
    const mins = [512, 4096, 8192, 12288, 65536, 1 << 20];
    for (let round = 0; round < 200; round++) {
      const len = 1 + Math.floor(rand() * 300000);
      const shift = rand() < 0.5 ? 0 : 4; // a view that does not start its buffer
      const view = new Uint8Array(len + 4).subarray(shift, shift + len);
      for (let p = 0; p < len;) {
        const n = 1 + Math.floor(rand() * 40000);
        if (rand() < 0.5) for (let i = p; i < Math.min(len, p + n); i += 1 + Math.floor(rand() * 5000)) view[i] = 1 + Math.floor(rand() * 255);
        p += n;
      }
      const offset = Math.floor(rand() * 4) * 1048576 + Math.floor(rand() * 64) * 512;
      const min = mins[Math.floor(rand() * mins.length)]!;
      const js = splitWith(view, min, offset, false);
      holes += js.filter((r) => r.startsWith('hole')).length;
      expect(splitWith(view, min, offset, true), `seed ${seed} round ${round}`).toEqual(js);
    }
    expect(holes).toBeGreaterThan(100); // the cases are not all data
  });

  it('fits the most fragmented buffer: 4 KiB data and 4 KiB holes alternating, partial ends', async () => {
    const buf = new Uint8Array(2 * 1024 * 1024);
    for (let p = 2048; p < buf.length; p += 8192) buf.fill(1, p, p + 4096); // data straddles every block edge
    const out = await split(buf, 4096);
    expect(out.length).toBe(1); // every block holds data: nothing is a hole
    const alt = new Uint8Array(2 * 1024 * 1024 + 100);
    for (let p = 0; p < alt.length; p += 8192) alt[p] = 1;
    alt[alt.length - 1] = 1;
    // Image offset 1024: a partial first block, then 511 whole blocks (even ones zero), then a partial data block.
    const ranges = await split(alt, 4096, 1024);
    expect(ranges.length).toBe(1 + 511 + 1);
    expect(ranges.slice(0, 3)).toEqual(['data 0-3072', 'hole 3072-7168', 'data 7168-11264']);
    expect(ranges.at(-1)).toBe(`data ${3072 + 511 * 4096}-${alt.length}`);
    ranges.forEach((r, i) => expect(r.startsWith(i % 2 === 0 ? 'data' : 'hole')).toBe(true));
  });
});
