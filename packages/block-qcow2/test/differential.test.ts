// Seeded random writes / write-zeroes / discards through tsemu against an
// in-memory model, concurrent within a batch (disjoint ranges), with
// `qemu-img check` and `qemu-img compare` after each run. The seed is in the
// test name, so a failure replays.
import { afterAll, describe, expect, it } from 'vitest';
import { createImage, openImage } from '@tsemu/block-core';
import { firstDiff, readAll, writeRaw } from './helpers/images.js';
import { expectCleanCheck, makeTempDir, prng, qemuImg, qemuImgStatus } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

interface Case { seed: number; cs: number; compat: string; backing: boolean; refcountBits: number; l2Cache?: string }

const CASES: Case[] = [
  { seed: 1, cs: 65536, compat: '1.1', backing: false, refcountBits: 16 },
  { seed: 2, cs: 4096, compat: '1.1', backing: true, refcountBits: 16 },
  { seed: 3, cs: 512, compat: '1.1', backing: false, refcountBits: 1 },
  { seed: 4, cs: 65536, compat: '0.10', backing: true, refcountBits: 16 },
  { seed: 5, cs: 4096, compat: '1.1', backing: true, refcountBits: 8 },
  { seed: 6, cs: 2 * 1024 * 1024, compat: '1.1', backing: false, refcountBits: 64 },
  // A two-table L2 cache: eviction under concurrent requests.
  { seed: 7, cs: 512, compat: '1.1', backing: true, refcountBits: 16, l2Cache: '1024' },
  { seed: 8, cs: 4096, compat: '1.1', backing: false, refcountBits: 2, l2Cache: '8192' },
];

describe('random operations vs a model', () => {
  for (const c of CASES) {
    it(`seed=${c.seed} cluster_size=${c.cs} compat=${c.compat} backing=${c.backing} refcount_bits=${c.refcountBits} l2-cache-size=${c.l2Cache ?? 'default'}`, async () => {
      const rnd = prng(c.seed);
      const size = Math.max(8 << 20, 8 * c.cs);
      const f = tmp.path(`d${c.seed}.qcow2`);
      const model = new Uint8Array(size);
      const options: Record<string, string> = { cluster_size: String(c.cs), compat: c.compat, refcount_bits: String(c.refcountBits) };
      if (c.backing) {
        const base = tmp.path(`d${c.seed}-base.raw`);
        for (let i = 0; i < size; i++) model[i] = (i * 7 + (i >> 12)) & 0xff;
        // Shorter backing file: the tail reads as zeroes.
        model.fill(0, size - size / 4);
        writeRaw(base, model.subarray(0, size - size / 4));
        Object.assign(options, { backing_file: base, backing_fmt: 'raw' });
      }
      await createImage({ filename: f, format: 'qcow2', size, options });
      const blk = await openImage({
        filename: f, format: 'qcow2', discard: 'unmap', options: c.l2Cache ? { 'l2-cache-size': c.l2Cache } : undefined,
      });
      for (let batch = 0; batch < 20; batch++) {
        const ops: Promise<void>[] = [];
        const used: Array<[number, number]> = [];
        for (let k = 0; k < 6; k++) {
          const len = 1 + Math.floor(rnd() ** 3 * Math.min(size / 4, 4 * c.cs + 5000));
          const off = Math.floor(rnd() * (size - len));
          // Concurrent ops only on disjoint ranges (a guest gets no order guarantee otherwise).
          if (used.some(([s, e]) => off < e && off + len > s)) continue;
          used.push([off, off + len]);
          const kind = rnd();
          if (kind < 0.7) {
            const byte = 1 + Math.floor(rnd() * 255);
            model.fill(byte, off, off + len);
            ops.push(blk.write(off, new Uint8Array(len).fill(byte)));
          } else if (kind < 0.85) {
            model.fill(0, off, off + len);
            ops.push(blk.writeZeroes(off, len, { mayUnmap: rnd() < 0.5 }));
          } else {
            // Discard only changes whole clusters; v3 with a backing file reads them as zeroes.
            const start = Math.ceil(off / c.cs) * c.cs;
            const end = Math.floor((off + len) / c.cs) * c.cs;
            if (end > start) {
              if (c.compat === '1.1' || !c.backing) model.fill(0, start, end);
              else continue;
              ops.push(blk.discard(off, len));
            }
          }
        }
        await Promise.all(ops);
        if (batch % 4 === 3) await blk.flush();
      }
      expect(firstDiff(await readAll(blk), model)).toBe(-1);
      await blk.close();
      expectCleanCheck(f);
      const raw = tmp.path(`d${c.seed}.model.raw`);
      writeRaw(raw, model);
      const r = qemuImgStatus('compare', '-f', 'raw', '-F', 'qcow2', raw, f);
      expect(r.stdout + r.stderr).toContain('Images are identical.');
      expect(qemuImg('info', '--output=json', f)).toContain('"format": "qcow2"');
    });
  }
});

describe('L2 cache eviction under load', () => {
  it('keeps every allocation with a two-table cache and 256 concurrent requests', async () => {
    const f = tmp.path('evict.qcow2');
    const size = 8 << 20;
    // 512-byte clusters: each L2 table maps 32 KiB, so the requests touch ~256 tables.
    await createImage({ filename: f, format: 'qcow2', size, options: { cluster_size: '512' } });
    const blk = await openImage({ filename: f, format: 'qcow2', options: { 'l2-cache-size': '1024' } });
    const model = new Uint8Array(size);
    const rnd = prng(99);
    const ops: Promise<void>[] = [];
    for (let i = 0; i < 256; i++) {
      const off = i * 32768 + Math.floor(rnd() * 30000);
      const len = 1 + Math.floor(rnd() * 2000);
      model.fill(i + 1, off, off + len);
      ops.push(blk.write(off, new Uint8Array(len).fill(i + 1)));
      // Reads of the same table (and of others, to evict it) while the write is in flight.
      ops.push(blk.read(i * 32768, new Uint8Array(512)));
      ops.push(blk.read(Math.floor(rnd() * (size - 4096)), new Uint8Array(4096)));
    }
    await Promise.all(ops);
    expect(firstDiff(await readAll(blk), model)).toBe(-1);
    await blk.close();
    expectCleanCheck(f);
    const raw = tmp.path('evict.raw');
    writeRaw(raw, model);
    expect(qemuImgStatus('compare', '-f', 'raw', '-F', 'qcow2', raw, f).stdout).toContain('Images are identical.');
  });
});
