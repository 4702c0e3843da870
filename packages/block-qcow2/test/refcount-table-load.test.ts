// The refcount table's load skips all-zero stretches natively (open cost);
// what it keeps must equal a plain decode of every entry of the table on disk.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { openImage } from '@tsemu/block-core';
import '@tsemu/block-qcow2'; // registers the driver
import type { Qcow2DriverState } from '@tsemu/block-qcow2';
import { makeTempDir, qemuImg, qemuIo } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

/** Every entry of the table as written in the file (bits 0..8 reserved). */
function decodeTable(file: string): number[] {
  const img = readFileSync(file);
  const off = Number(img.readBigUInt64BE(48));
  const clusters = img.readUInt32BE(56);
  const cs = 2 ** img.readUInt32BE(20);
  const out: number[] = [];
  for (let i = 0; i < (clusters * cs) / 8; i++) out.push(Number(img.readBigUInt64BE(off + i * 8) & ~0x1ffn));
  return out;
}

async function loaded(file: string): Promise<{ entries: number[]; blocks: number[] }> {
  const blk = await openImage({ filename: file, format: 'qcow2', readOnly: true });
  try {
    const rc = (blk.root.state as unknown as Qcow2DriverState).image.refcounts;
    const entries: number[] = [];
    for (let i = 0; i < rc.entries; i++) entries.push(rc.entryAt(i));
    return { entries, blocks: rc.blockOffsets() };
  } finally {
    await blk.close();
  }
}

describe('refcount table load', () => {
  it('keeps every entry of a table whose blocks span several 64-entry stretches', async () => {
    const f = tmp.path('many-blocks.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=512', f, '16M');
    qemuIo(f, 'write -P 7 0 10M'); // ~80 refcount blocks of 128 KiB each
    const want = decodeTable(f);
    expect(want.filter((e) => e !== 0).length).toBeGreaterThan(64);
    const got = await loaded(f);
    expect(got.entries).toEqual(want);
    expect(got.blocks).toEqual(want.filter((e) => e !== 0));
  });

  it('finds an entry after a long zero stretch and ignores the reserved low bits', async () => {
    const f = tmp.path('gap.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', f, '1G');
    const img = readFileSync(f);
    const table = Number(img.readBigUInt64BE(48));
    // Entry 1000 names a block at the (cluster-aligned) end of the file, with a reserved bit set.
    const end = Math.ceil(img.length / 65536) * 65536;
    const grown = Buffer.alloc(end + 65536);
    img.copy(grown);
    grown.writeBigUInt64BE(BigInt(end) | 0x1n, table + 1000 * 8);
    writeFileSync(f, grown);
    const want = decodeTable(f);
    expect(want[1000]).toBe(end);
    const got = await loaded(f);
    expect(got.entries).toEqual(want);
    expect(got.blocks).toEqual(want.filter((e) => e !== 0));
    expect(got.blocks.length).toBe(2);
  });
});
