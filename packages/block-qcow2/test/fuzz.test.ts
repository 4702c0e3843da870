// Hostile images: seeded mutations of the header, L1, L2 and refcount
// structures, the snapshot table and the bitmaps extension, directory and
// tables of valid images. Every case must end in a BlockError with a
// message, or in reads/writes that complete; never another exception type,
// never a hang, and never a large allocation.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlockError, openImage } from '@tsemu/block-core';
import { Qcow2Checker, setCorruptionReporter, type Qcow2DriverState } from '@tsemu/block-qcow2';
import { makeTempDir, prng, qemuImg, qemuIo } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

interface Base { name: string; bytes: Uint8Array; cs: number }
const bases: Base[] = [];

const corruptionLines: string[] = [];
/** Bitmap warnings of mutated images are expected: kept with the corruption lines, off stderr. */
const onWarnReport = (text: string): void => void corruptionLines.push(text);
beforeAll(() => {
  setCorruptionReporter((line) => corruptionLines.push(line));
  // The zstd base: compressed clusters whose frames mutated descriptors point into other data.
  for (const [cs, compat, compression] of [[4096, '1.1', 'zlib'], [65536, '0.10', 'zlib'], [512, '1.1', 'zlib'], [4096, '1.1', 'zstd']] as const) {
    const f = tmp.path(`base-${cs}-${compression}.qcow2`);
    qemuImg('create', '-f', 'qcow2', '-o', `cluster_size=${cs},compat=${compat},compression_type=${compression}`, f, '2M');
    qemuIo(f, 'write -P 0x11 0 100k', `write -c -P 0x22 1280k ${cs}`, 'write -P 0x33 1M 8k', 'write -z 1536k 64k');
    bases.push({ name: `${cs}-${compat}-${compression}`, bytes: new Uint8Array(readFileSync(f)), cs });
  }
  // With two internal snapshots, for the snapshot-table mutations.
  const f = tmp.path('base-snap.qcow2');
  qemuImg('create', '-f', 'qcow2', '-o', 'cluster_size=4096', f, '2M');
  qemuIo(f, 'write -P 0x11 0 100k');
  qemuImg('snapshot', '-c', 'one', f);
  qemuIo(f, 'write -P 0x44 8k 8k');
  qemuImg('snapshot', '-c', 'two', f);
  bases.push({ name: '4096-snapshots', bytes: new Uint8Array(readFileSync(f)), cs: 4096 });
  // With two persistent bitmaps (one with data), for the bitmap mutations.
  const fb = tmp.path('base-bitmaps.qcow2');
  qemuImg('create', '-f', 'qcow2', '-o', 'cluster_size=4096', fb, '2M');
  qemuImg('bitmap', '--add', '-g', '512', fb, 'b0');
  qemuIo(fb, 'write -P 0x11 0 100k');
  qemuImg('bitmap', '--add', '--disable', fb, 'second');
  bases.push({ name: '4096-bitmaps', bytes: new Uint8Array(readFileSync(fb)), cs: 4096 });
});

/** The bitmaps extension's data offset in the header (0: none). */
function bitmapsExt(dv: DataView): number {
  let off = dv.getUint32(4) >= 3 ? dv.getUint32(100) : 72;
  while (off + 8 <= 4096) {
    const type = dv.getUint32(off);
    if (type === 0) return 0;
    if (type === 0x23852875) return off + 8;
    off += 8 + ((dv.getUint32(off + 4) + 7) & ~7);
  }
  return 0;
}

function be(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** One seeded mutation; returns a short description for the failure message. */
function mutate(img: Uint8Array, cs: number, rnd: () => number): string {
  const dv = be(img);
  const pick = (n: number): number => Math.floor(rnd() * n);
  const l1 = Number(dv.getBigUint64(40));
  const rt = Number(dv.getBigUint64(48));
  const regions: Array<[string, number, number]> = [
    ['header', 0, 112],
    ['extensions', 112, Math.min(cs, 600)],
    ['l1', l1, 64],
    ['reftable', rt, 64],
    ['refblock', rt === cs ? 2 * cs : cs, 128],
    ['l2', 4 * cs, Math.min(cs, 4096)],
    ['l2b', 5 * cs, Math.min(cs, 4096)],
  ];
  const snapTable = Number(dv.getBigUint64(64));
  if (snapTable > 0) regions.push(['snaptable', snapTable, 160]);
  const kind = pick(6);
  if (kind === 5) {
    // Bitmaps: extension fields, directory entry fields or a table entry, set to edge values.
    const ext = bitmapsExt(dv);
    if (ext === 0) return 'none';
    const dir = Number(dv.getBigUint64(ext + 16));
    const entry = dir + (rnd() < 0.5 ? 0 : 32);
    const v = [0, 1, 0x200, cs + 8, 0x400001, 0xffff, 1024, 0x7fffffff, 0xffffffff][pick(9)]!;
    const field = pick(10);
    switch (field) {
      case 0: dv.setUint32(ext, v); break;
      case 1: dv.setBigUint64(ext + 8, BigInt(v) * (rnd() < 0.5 ? 1n : 1n << 20n)); break;
      case 2: dv.setBigUint64(ext + 16, BigInt(v) * (rnd() < 0.5 ? 1n : BigInt(cs))); break;
      case 3: dv.setBigUint64(entry, BigInt(v) * (rnd() < 0.5 ? 1n : BigInt(cs))); break;
      case 4: dv.setUint32(entry + 8, v); break;
      case 5: dv.setUint32(entry + 12, v & 7); break;
      case 6: dv.setUint8(entry + 17, v & 0xff); break;
      case 7: dv.setUint16(entry + 18, v & 0xffff); break;
      case 8: dv.setUint32(entry + 20, v); break;
      default: {
        const table = Number(dv.getBigUint64(entry));
        if (table + 8 <= img.length) dv.setBigUint64(table, BigInt(v) * (rnd() < 0.5 ? 1n : BigInt(cs)));
      }
    }
    return `bitmaps field ${field}=${v}`;
  }
  if (kind === 4) {
    // A damaged snapshot table: entry fields (L1 offset / size, id and name
    // lengths, extra data size) or the count, set to edge values.
    if (snapTable === 0 || snapTable + 40 > img.length) return 'none';
    const entry = snapTable + (rnd() < 0.5 ? 0 : 72);
    const field = pick(7);
    const v = [0, 1, 0x200, cs + 8, 0x400001, 0xffff, 1025, 0x7fffffff, 0xffffffff][pick(9)]!;
    switch (field) {
      case 0: dv.setBigUint64(entry, BigInt(v) * (rnd() < 0.5 ? 1n : BigInt(cs))); break;
      case 1: dv.setUint32(entry + 8, v); break;
      case 2: dv.setUint16(entry + 12, v & 0xffff); break;
      case 3: dv.setUint16(entry + 14, v & 0xffff); break;
      case 4: dv.setUint32(entry + 36, v); break;
      case 5: dv.setUint32(60, [3, 100, 65536, 65537, 0x7fffffff][pick(5)]!); break;
      // The table pointer itself: unaligned (also past the end), which open refuses and check reports.
      default: dv.setBigUint64(64, BigInt(snapTable + [8, 512, cs + 8, 1 << 30][pick(4)]!));
    }
    return `snapshot entry@${entry} field ${field}=${v}`;
  }
  if (kind === 0) {
    // Absurd values in 32/64-bit header fields.
    const fields = [4, 20, 32, 36, 56, 60, 96, 100];
    const f64 = [8, 24, 40, 48, 64, 72, 80, 88];
    const values = [0, 1, 0x7fffffff, 0xffffffff, 0x80000000, 4096, 0x200, 22, 7];
    if (rnd() < 0.5) {
      const at = fields[pick(fields.length)]!;
      const v = values[pick(values.length)]!;
      dv.setUint32(at, v);
      return `u32@${at}=${v}`;
    }
    const at = f64[pick(f64.length)]!;
    const v = [0n, 1n, 0xffffffffffffffffn, 1n << 62n, 1n << 55n, BigInt(cs) * 3n, 0x200n][pick(7)]!;
    dv.setBigUint64(at, v);
    return `u64@${at}=${v}`;
  }
  const [name, start, len] = regions[pick(regions.length)]!;
  const flips = 1 + pick(kind === 1 ? 2 : 8);
  const out: string[] = [];
  for (let i = 0; i < flips; i++) {
    const at = start + pick(len);
    if (at >= img.length) continue;
    const v = kind === 3 ? [0, 0xff, 0x80, 0x40, 0x01][pick(5)]! : pick(256);
    img[at] = v;
    out.push(`${at}=${v}`);
  }
  return `${name}:${out.join(',')}`;
}

/** Exercises the image; throws anything that is not a BlockError. */
async function exercise(file: string, readOnly: boolean): Promise<string> {
  let blk;
  try {
    blk = await openImage({ filename: file, format: 'qcow2', readOnly, noBacking: true, onWarnReport });
  } catch (err) {
    if (err instanceof BlockError && err.message.length > 0) return `open: ${err.message}`;
    throw err;
  }
  try {
    const size = await blk.getLength();
    const buf = new Uint8Array(256 * 1024);
    const end = Math.min(size, 4 << 20);
    for (let off = 0; off < end; off += buf.length) {
      await blk.read(off, buf.subarray(0, Math.min(buf.length, end - off))).catch(expectBlockError);
    }
    const state = blk.root.state as unknown as Qcow2DriverState;
    await state.snapshots.list().catch(expectBlockError);
    await new Qcow2Checker(state.image).run('none').catch(expectBlockError);
    if (!readOnly && size > 0) {
      await blk.write(0, new Uint8Array(Math.min(size, 5000)).fill(0xee)).catch(expectBlockError);
      await blk.write(Math.min(size - 1, 1 << 20), new Uint8Array(1)).catch(expectBlockError);
      await blk.writeZeroes(0, Math.min(size, 64 << 10)).catch(expectBlockError);
      await blk.flush().catch(expectBlockError);
    }
    return 'ok';
  } finally {
    await blk.close().catch(expectBlockError);
  }
}

/** The check-mode open (BDRV_O_CHECK: no snapshot table validation) and check -r all; throws anything not a BlockError. */
async function exerciseCheck(file: string): Promise<void> {
  let blk;
  try {
    blk = await openImage({ filename: file, format: 'qcow2', noBacking: true, forCheck: true, onWarnReport });
  } catch (err) {
    if (err instanceof BlockError && err.message.length > 0) return;
    throw err;
  }
  try {
    const state = blk.root.state as unknown as Qcow2DriverState;
    await state.image.lockedWriteThrough(() => new Qcow2Checker(state.image).run('all')).catch(expectBlockError);
  } finally {
    await blk.close().catch(expectBlockError);
  }
}

function expectBlockError(err: unknown): void {
  if (!(err instanceof BlockError)) throw err;
}

describe('hostile images', () => {
  it('refuses absurd table sizes with QEMU messages, before allocating', async () => {
    const cases: Array<[number, 'u32' | 'u64', bigint | number, string]> = [
      [36, 'u32', 0xffffffff, 'Active L1 table too large'],
      [56, 'u32', 0xffffffff, 'Reference count table too large'],
      [20, 'u32', 40, 'Unsupported cluster size: 2^40'],
      [4, 'u32', 9, 'Unsupported qcow2 version 9'],
      [40, 'u64', 0x123n, 'Active L1 table offset invalid'],
      [48, 'u64', 0x7ffffffffffffe00n, 'Reference count table offset invalid'],
      [100, 'u32', 0x100000, 'qcow2 header exceeds cluster size'],
      [96, 'u32', 9, 'Reference count entry width too large; may not exceed 64 bits'],
      [24, 'u64', 1n << 50n, 'L1 table is too small'],
      [32, 'u32', 7, 'Unsupported encryption method 7'],
    ];
    const base = bases[0]!;
    for (const [at, kind, value, message] of cases) {
      const img = base.bytes.slice();
      if (kind === 'u32') be(img).setUint32(at, Number(value));
      else be(img).setBigUint64(at, BigInt(value));
      const f = tmp.path('absurd.qcow2');
      writeFileSync(f, img);
      const before = process.memoryUsage().arrayBuffers;
      await expect(openImage({ filename: f, format: 'qcow2' })).rejects.toThrow(message);
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 << 20);
    }
  });

  it('refuses hostile bitmap counts and sizes before allocating', async () => {
    const base = bases.find((b) => b.name === '4096-bitmaps')!;
    const ext = bitmapsExt(be(base.bytes));
    const dir = Number(be(base.bytes).getBigUint64(ext + 16));
    const cases: Array<[(dv: DataView) => void, string]> = [
      [(dv) => dv.setUint32(ext, 0xffffffff), 'exceeding the QEMU supported maximum of 65535'],
      [(dv) => dv.setBigUint64(ext + 8, 0xffffffffffffffffn), 'exceeds the maximum supported size (67107840)'],
      [(dv) => dv.setUint32(dir + 8, 0xffffffff), "Bitmap 'b0' doesn't satisfy the constraints"],
      [(dv) => dv.setUint16(dir + 18, 0xffff), 'Broken bitmap directory'],
    ];
    for (const [edit, message] of cases) {
      const img = base.bytes.slice();
      edit(be(img));
      const f = tmp.path('absurd-bitmaps.qcow2');
      writeFileSync(f, img);
      const before = process.memoryUsage().arrayBuffers;
      await expect(openImage({ filename: f, format: 'qcow2', readOnly: true })).rejects.toThrow(message);
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 << 20);
    }
  });

  it('names unknown incompatible features as QEMU does', async () => {
    const img = bases[0]!.bytes.slice();
    be(img).setBigUint64(72, 0x20n);
    const f = tmp.path('feat.qcow2');
    writeFileSync(f, img);
    await expect(openImage({ filename: f, format: 'qcow2', readOnly: true })).rejects.toThrow(
      'Unsupported qcow2 feature(s): Unknown incompatible feature: 20');
    be(img).setBigUint64(72, 0x2n);
    writeFileSync(f, img);
    await expect(openImage({ filename: f, format: 'qcow2' })).rejects.toThrow('qcow2: Image is corrupt; cannot be opened read/write');
    const ro = await openImage({ filename: f, format: 'qcow2', readOnly: true });
    await ro.close();
  });

  it('survives 1000 seeded mutations (QCOW2_FUZZ_CASES to change, QCOW2_FUZZ_FROM to start at a seed)', async () => {
    const outcomes = new Map<string, number>();
    const from = Number(process.env.QCOW2_FUZZ_FROM ?? 1);
    for (let seed = from; seed <= Number(process.env.QCOW2_FUZZ_CASES ?? 1000); seed++) {
      const rnd = prng(seed * 7919);
      const base = bases[seed % bases.length]!;
      const img = base.bytes.slice();
      const what = mutate(img, base.cs, rnd);
      const f = tmp.path(`fuzz.qcow2`);
      writeFileSync(f, img);
      let result: string;
      try {
        result = await exercise(f, seed % 3 === 0);
        if (what.startsWith('snapshot') || what.startsWith('bitmaps')) {
          // What open refuses in the snapshot table, the check-mode open takes and check -r all works on.
          writeFileSync(f, img);
          await exerciseCheck(f);
        }
      } catch (err) {
        // QCOW2_FUZZ_KEEP=path: the failing image, for a closer look.
        if (process.env.QCOW2_FUZZ_KEEP) writeFileSync(process.env.QCOW2_FUZZ_KEEP, img);
        throw new Error(`seed ${seed} base ${base.name} (${what}): ${(err as Error).stack}`);
      }
      const key = result.startsWith('open: ') ? result.replace(/0x[0-9a-f]+|\d+/g, 'N') : result;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      const mem = process.memoryUsage();
      expect(mem.arrayBuffers, `seed ${seed}`).toBeLessThan(256 << 20);
    }
    if (from === 1) expect(outcomes.get('ok')).toBeGreaterThan(50);
    // Some cases must have been caught by the corruption checks (and reported as QEMU does).
    expect(corruptionLines.some((l) => l.startsWith('qcow2: '))).toBe(true);
  });
});
