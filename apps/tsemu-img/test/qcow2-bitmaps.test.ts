// Persistent dirty bitmaps against qemu-img / qemu-io 7.2 on the same images:
// info (human, json, --backing-chain) and check of images with bitmaps,
// damaged bitmap metadata (same lines and exit status), repairs that must
// keep the bitmaps' clusters, the in-use and "modified by a program lacking
// bitmap support" cases, and tsemu-io writes that leave the same bitmaps
// (byte-identical files).
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide, sha256 } from './harness.js';
import { must, spawn, tsemuImg, TSEMU_IO } from './qcow2-harness.js';

let w: SideBySide;

/** Byte offset of the bitmaps extension's data in the header, and the directory offset. */
function layout(path: string): { ext: number; dir: number } {
  const b = readFileSync(path);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let off = dv.getUint32(100);
  for (;;) {
    const type = dv.getUint32(off);
    const len = dv.getUint32(off + 4);
    if (type === 0) throw new Error('no bitmaps extension');
    if (type === 0x23852875) return { ext: off + 8, dir: Number(dv.getBigUint64(off + 8 + 16)) };
    off += 8 + ((len + 7) & ~7);
  }
}

/** Copies base.qcow2 to `name` in both directories with `edit` applied to the bytes. */
function damaged(name: string, edit: (dv: DataView, l: { ext: number; dir: number }) => void): void {
  const src = `${w.q}/base.qcow2`;
  const l = layout(src);
  const bytes = new Uint8Array(readFileSync(src));
  edit(new DataView(bytes.buffer), l);
  writeFileSync(`${w.q}/${name}`, bytes);
  writeFileSync(`${w.t}/${name}`, bytes);
}

async function same(args: string[]): Promise<void> {
  const qemu = spawn('qemu-img', args, w.q);
  const tsemu = await tsemuImg(args, w.t);
  expect(tsemu).toEqual(qemu);
}

beforeAll(() => {
  w = new SideBySide();
  for (const d of [w.q, w.t]) {
    must('qemu-img', ['create', '-q', '-f', 'qcow2', 'base.qcow2', '64M'], d);
    must('qemu-img', ['bitmap', '--add', 'base.qcow2', 'b0'], d);
    must('qemu-io', ['-c', 'write 0 64k', '-c', 'write 1M 64k', 'base.qcow2'], d);
    must('qemu-img', ['bitmap', '--add', '-g', '1M', '--disable', 'base.qcow2', 'b1'], d);
    must('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2'], d);
    must('qemu-img', ['bitmap', '--add', '-g', '512', 'top.qcow2', 'top0'], d);
  }
});

afterAll(() => w.cleanup());

describe('info and check of images with bitmaps', () => {
  it('info: the bitmaps list as qemu-img prints it (human, json, backing chain)', async () => {
    await same(['info', 'base.qcow2']);
    await same(['info', '--output=json', 'base.qcow2']);
    await same(['info', '--backing-chain', 'top.qcow2']);
    await same(['info', '--backing-chain', '--output=json', 'top.qcow2']);
    expect((await tsemuImg(['info', 'base.qcow2'], w.t)).stdout).toContain('    bitmaps:\n        [0]:\n            flags:\n                [0]: auto\n');
  });

  it('check counts directory, tables and data: clean, same report', async () => {
    await same(['check', 'base.qcow2']);
    await same(['check', '--output=json', 'top.qcow2']);
  });

  it('check -r leaks|all frees a real leak but never a bitmap cluster', async () => {
    for (const mode of ['leaks', 'all']) {
      for (const d of [w.q, w.t]) {
        copyFileSync(`${d}/base.qcow2`, `${d}/leak-${mode}.qcow2`);
        // A leaked cluster past the end of what is used.
        must('qemu-io', ['-c', 'write 8M 64k', '-c', 'discard 8M 64k', `leak-${mode}.qcow2`], d);
      }
      await same(['check', '-r', mode, `leak-${mode}.qcow2`]);
      const after = spawn('qemu-img', ['check', `leak-${mode}.qcow2`], w.t);
      expect(after.stdout).toContain('No errors were found on the image.');
      expect(spawn('qemu-img', ['info', `leak-${mode}.qcow2`], w.t).stdout).toContain('name: b1');
    }
  });
});

/** Directory entry 0 starts at l.dir; fields: table offset 0, size 8, flags 12, type 16, granularity 17, name size 18, extra 20. */
const DAMAGE: Array<[string, (dv: DataView, l: { ext: number; dir: number }) => void]> = [
  ['ext-length', (dv, l) => dv.setUint32(l.ext - 4, 16)],
  ['ext-reserved', (dv, l) => dv.setUint32(l.ext + 4, 1)],
  ['nb-zero', (dv, l) => dv.setUint32(l.ext, 0)],
  ['nb-65536', (dv, l) => dv.setUint32(l.ext, 65536)],
  ['nb-3', (dv, l) => dv.setUint32(l.ext, 3)],
  ['nb-1', (dv, l) => dv.setUint32(l.ext, 1)],
  ['dir-unaligned', (dv, l) => dv.setBigUint64(l.ext + 16, BigInt(l.dir + 512))],
  ['dir-size-4G', (dv, l) => dv.setBigUint64(l.ext + 8, 1n << 32n)],
  ['dir-size-48', (dv, l) => dv.setBigUint64(l.ext + 8, 48n)],
  ['dir-past-eof', (dv, l) => dv.setBigUint64(l.ext + 16, 1n << 24n)],
  ['table-unaligned', (dv, l) => dv.setBigUint64(l.dir, dv.getBigUint64(l.dir) + 512n)],
  ['table-size-0', (dv, l) => dv.setUint32(l.dir + 8, 0)],
  ['table-size-2', (dv, l) => dv.setUint32(l.dir + 8, 2)],
  ['table-size-huge', (dv, l) => dv.setUint32(l.dir + 8, 0x10000000)],
  ['table-past-eof', (dv, l) => dv.setBigUint64(l.dir, 1n << 28n)],
  ['flags-reserved', (dv, l) => dv.setUint32(l.dir + 12, 0x12)],
  ['type-2', (dv, l) => dv.setUint8(l.dir + 16, 2)],
  ['granularity-8', (dv, l) => dv.setUint8(l.dir + 17, 8)],
  ['granularity-32', (dv, l) => dv.setUint8(l.dir + 17, 32)],
  ['extra-data', (dv, l) => dv.setUint32(l.dir + 20, 8)],
  ['duplicate-name', (dv, l) => dv.setUint8(l.dir + 32 + 25, 0x30)],
  ['entry-reserved', (dv, l) => {
    const table = Number(dv.getBigUint64(l.dir));
    dv.setBigUint64(table, dv.getBigUint64(table) | 2n);
  }],
  ['entry-all-ones', (dv, l) => dv.setBigUint64(Number(dv.getBigUint64(l.dir)), 1n)],
  ['entry-past-eof', (dv, l) => dv.setBigUint64(Number(dv.getBigUint64(l.dir)), 1n << 28n)],
  ['in-use', (dv, l) => dv.setUint32(l.dir + 12, 3)],
  ['in-use-entry-reserved', (dv, l) => {
    dv.setUint32(l.dir + 12, 3);
    const table = Number(dv.getBigUint64(l.dir));
    dv.setBigUint64(table, dv.getBigUint64(table) | 2n);
  }],
  ['autoclear-cleared', (dv) => dv.setUint8(95, 0)],
];

describe('damaged bitmap metadata: the same messages, counts and exit status', () => {
  for (const [name, edit] of DAMAGE) {
    it(name, async () => {
      damaged(`${name}.qcow2`, edit);
      await same(['info', `${name}.qcow2`]);
      await same(['check', `${name}.qcow2`]);
    });
  }
});

it('a nameless entry: QEMU prints a stray byte of its buffer as the name, tsemu an empty one', async () => {
  damaged('name-size-0.qcow2', (dv, l) => dv.setUint16(l.dir + 18, 0));
  const q = spawn('qemu-img', ['info', 'name-size-0.qcow2'], w.q);
  const t = await tsemuImg(['info', 'name-size-0.qcow2'], w.t);
  expect(t.code).toBe(q.code);
  expect(t.stderr).toBe("qemu-img: Could not open 'name-size-0.qcow2': Bitmap '' doesn't satisfy the constraints\n");
  expect(q.stderr.replace(/Bitmap '[^']*'/, "Bitmap ''")).toBe(t.stderr);
});

describe('read-write opens keep the bitmaps as QEMU does', () => {
  const io = (bin: string, dir: string, file: string, ...cmds: string[]): void => {
    const r = spawn(bin, [...cmds.flatMap((c) => ['-c', c]), file], dir);
    if (r.code !== 0) throw new Error(`${bin}: ${r.stderr}`);
  };

  it('tsemu-io writes, write-zeroes and discards: the file qemu-io leaves, byte for byte', () => {
    const cmds = ['write 0 64k', 'write 3M 4k', 'write -z 10M 1M', 'discard 20M 128k', 'write 63M 1M', 'write -P 7 40M 512'];
    for (const d of [w.q, w.t]) copyFileSync(`${d}/base.qcow2`, `${d}/rw.qcow2`);
    io('qemu-io', w.q, 'rw.qcow2', ...cmds);
    io(TSEMU_IO, w.t, 'rw.qcow2', ...cmds);
    expect(sha256(`${w.t}/rw.qcow2`)).toBe(sha256(`${w.q}/rw.qcow2`));
    expect(spawn('qemu-img', ['check', 'rw.qcow2'], w.t).code).toBe(0);
  });

  it('flush does not store them: a writer killed after a flush leaves every bitmap in use, as qemu-io', async () => {
    for (const d of [w.q, w.t]) copyFileSync(`${d}/base.qcow2`, `${d}/killed.qcow2`);
    const cmds = ['-c', 'write 0 64k', '-c', 'flush', '-c', 'sigraise 9', 'killed.qcow2'];
    expect(spawn('qemu-io', cmds, w.q).code).not.toBe(0);
    expect(spawn(TSEMU_IO, cmds, w.t).code).not.toBe(0);
    expect(sha256(`${w.t}/killed.qcow2`)).toBe(sha256(`${w.q}/killed.qcow2`));
    await same(['info', 'killed.qcow2']);
    expect((await tsemuImg(['info', 'killed.qcow2'], w.t)).stdout.match(/in-use/g)).toHaveLength(2);
  });

  it('an in-use bitmap stays in use and cannot be cleared, only removed', async () => {
    damaged('inuse-rw.qcow2', (dv, l) => dv.setUint32(l.dir + 12, 3));
    io('qemu-io', w.q, 'inuse-rw.qcow2', 'write 2M 64k');
    io(TSEMU_IO, w.t, 'inuse-rw.qcow2', 'write 2M 64k');
    expect(sha256(`${w.t}/inuse-rw.qcow2`)).toBe(sha256(`${w.q}/inuse-rw.qcow2`));
    await same(['bitmap', '--clear', 'inuse-rw.qcow2', 'b0']);
    await same(['bitmap', '--remove', 'inuse-rw.qcow2', 'b0']);
    expect(sha256(`${w.t}/inuse-rw.qcow2`)).toBe(sha256(`${w.q}/inuse-rw.qcow2`));
    await same(['check', 'inuse-rw.qcow2']);
  });

  it('bitmaps a program without bitmap support invalidated: dropped on a read-write open, as QEMU', async () => {
    damaged('dropped.qcow2', (dv) => dv.setUint8(95, 0));
    await same(['bitmap', '--add', 'dropped.qcow2', 'fresh']);
    expect(sha256(`${w.t}/dropped.qcow2`)).toBe(sha256(`${w.q}/dropped.qcow2`));
  });
});
