// Qcow2Bitmaps in-process: the range marking a write does (partial bytes,
// whole bytes, the disk's last bit), the directory codec round trip and its
// refusals, and a read-write session that marks, stores and reopens.
import { afterAll, describe, expect, it } from 'vitest';
import { openImage } from '@tsemu/block-core';
import { setRange, type Qcow2DriverState } from '@tsemu/block-qcow2';
import { encodeDirectory, parseDirectory } from '../src/bitmap-format.js';
import { makeTempDir, qemuImg } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

function setBits(bits: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < bits.length * 8; i++) if (bits[i >>> 3]! & (1 << (i & 7))) out.push(i);
  return out;
}

describe('bitmaps', () => {
  it('setRange sets exactly first..last', () => {
    for (const [first, last] of [[0, 0], [3, 5], [7, 8], [5, 30], [8, 15], [0, 63], [13, 13]] as const) {
      const bits = new Uint8Array(8);
      setRange(bits, first, last);
      expect(setBits(bits)).toEqual(Array.from({ length: last - first + 1 }, (_, i) => first + i));
    }
  });

  it('directory entries round-trip and bad counts are refused', () => {
    const entries = [
      { tableOffset: 0x50000, tableSize: 1, flags: 2, granularityBits: 16, name: 'b0' },
      { tableOffset: 0x60000, tableSize: 1, flags: 0, granularityBits: 20, name: 'a longer name' },
    ];
    const dir = encodeDirectory(entries);
    const ext = { nbBitmaps: 2, directorySize: dir.length, directoryOffset: 0x70000 };
    expect(parseDirectory(dir, ext, 64 << 20, 65536)).toEqual(entries);
    expect(() => parseDirectory(dir, { ...ext, nbBitmaps: 3 }, 64 << 20, 65536)).toThrow('Less bitmaps found than specified in header extension');
    expect(() => parseDirectory(dir, { ...ext, nbBitmaps: 1 }, 64 << 20, 65536)).toThrow('More bitmaps found than specified in header extension');
    expect(() => parseDirectory(dir.subarray(0, 40), ext, 64 << 20, 65536)).toThrow('Broken bitmap directory');
    // 2 TiB at 64 KiB granularity needs 4 MiB of bitmap: one table entry of 64 KiB is too few.
    expect(() => parseDirectory(dir, ext, 2 ** 41, 65536)).toThrow("Bitmap 'b0' doesn't satisfy the constraints");
  });

  it('a read-write session marks writes at the granularity and stores them at close', async () => {
    const f = tmp.path('rw.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', f, '8M');
    qemuImg('bitmap', '--add', '-g', '1M', f, 'coarse');
    qemuImg('bitmap', '--add', '-g', '512', '--disable', f, 'off');
    let blk = await openImage({ filename: f });
    await blk.write(1536 * 1024, new Uint8Array(4096));
    await blk.writeZeroes((8 << 20) - 512, 512);
    await blk.close();
    blk = await openImage({ filename: f, readOnly: true });
    const bitmaps = (blk.root.state as unknown as Qcow2DriverState).bitmaps;
    expect(bitmaps.list.map((b) => [b.name, b.auto, b.inconsistent])).toEqual([['coarse', true, false], ['off', false, false]]);
    expect(setBits(await bitmaps.bitsOf(bitmaps.list[0]!))).toEqual([1, 7]);
    expect(setBits(await bitmaps.bitsOf(bitmaps.list[1]!))).toEqual([]);
    await blk.close();
    expect(qemuImg('check', f)).toContain('No errors were found on the image.');
  });
});
