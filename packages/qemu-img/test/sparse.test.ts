import { describe, expect, it } from 'vitest';
import { holeAlignment, splitSparse, type RangeSink } from '../src/sparse.js';

async function split(bytes: Uint8Array, minSparse: number, offset = 0): Promise<string[]> {
  const out: string[] = [];
  const sink: RangeSink = {
    data: async (s, e) => void out.push(`data ${s}-${e}`),
    hole: async (s, e) => void out.push(`hole ${s}-${e}`),
  };
  await splitSparse(bytes, new Int32Array(bytes.buffer), bytes.length, offset, minSparse, sink);
  return out;
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
});
