// Images created and written by tsemu: `qemu-img check` finds no errors or
// leaks and `qemu-img compare` finds the content of a raw reference.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createImage, openImage, type BlockBackend } from '@tsemu/block-core';
import { firstDiff, readAllTsemu, writeRaw } from './helpers/images.js';
import { expectCleanCheck, makeTempDir, qemuImg, qemuImgStatus, qemuIo } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

function expectSameAs(file: string, model: Uint8Array, name: string): void {
  const raw = tmp.path(`${name}.ref.raw`);
  writeRaw(raw, model);
  const r = qemuImgStatus('compare', '-f', 'raw', '-F', 'qcow2', raw, file);
  expect(r.stdout + r.stderr).toContain('Images are identical.');
}

async function writeModel(blk: BlockBackend, model: Uint8Array, offset: number, len: number, byte: number): Promise<void> {
  const buf = new Uint8Array(len).fill(byte);
  await blk.write(offset, buf);
  model.fill(byte, offset, offset + len);
}

describe('writing images qemu-img accepts', () => {
  for (const cs of [512, 4096, 65536, 2 * 1024 * 1024]) {
    for (const compat of ['0.10', '1.1']) {
      it(`cluster_size=${cs} compat=${compat}`, async () => {
        const name = `w-${cs}-${compat}`;
        const f = tmp.path(`${name}.qcow2`);
        const size = Math.max(16 << 20, 16 * cs);
        await createImage({ filename: f, format: 'qcow2', size, options: { cluster_size: String(cs), compat } });
        const model = new Uint8Array(size);
        const blk = await openImage({ filename: f, format: 'qcow2' });
        await writeModel(blk, model, 0, 1024, 0x11);
        await writeModel(blk, model, cs - 100, 300, 0x22);
        await writeModel(blk, model, 3 * cs, 2 * cs + 777, 0x33);
        await writeModel(blk, model, 5 << 20, 64 << 10, 0x44);
        await writeModel(blk, model, 13 << 20, 3 << 20, 0x66);
        await writeModel(blk, model, 5 << 20, 100, 0x45); // in place
        await blk.writeZeroes(3 * cs, cs);
        model.fill(0, 3 * cs, 4 * cs);
        await blk.writeZeroes(13 << 20, 1 << 20, { mayUnmap: true });
        model.fill(0, 13 << 20, 14 << 20);
        await blk.flush();
        await blk.close();
        expectCleanCheck(f);
        expectSameAs(f, model, name);
        expect(firstDiff(await readAllTsemu(f), model)).toBe(-1);
      });
    }
  }

  it('copies on write from a backing file for partial clusters', async () => {
    const base = tmp.path('cow-base.qcow2');
    const top = tmp.path('cow-top.qcow2');
    qemuImg('create', '-f', 'qcow2', base, '4M');
    qemuIo(base, 'write -P 0xa1 0 4M');
    await createImage({ filename: top, format: 'qcow2', size: 4 << 20, options: { backing_file: base, backing_fmt: 'qcow2', cluster_size: '65536' } });
    const model = new Uint8Array(4 << 20).fill(0xa1);
    const blk = await openImage({ filename: top, format: 'qcow2' });
    await writeModel(blk, model, 512, 3 * 1024, 0x5a);
    await writeModel(blk, model, 65536 * 3 - 10, 20, 0x5b);
    await writeModel(blk, model, 1 << 20, 65536, 0x5c);
    await blk.close();
    expectCleanCheck(top);
    expectSameAs(top, model, 'cow');
  });

  it('two writers into one new cluster both land (iotests 046 pattern)', async () => {
    const base = tmp.path('race-base.qcow2');
    const top = tmp.path('race-top.qcow2');
    qemuImg('create', '-f', 'qcow2', base, '1M');
    qemuIo(base, 'write -P 0x01 0 1M');
    await createImage({ filename: top, format: 'qcow2', size: 1 << 20, options: { backing_file: base, backing_fmt: 'qcow2' } });
    const model = new Uint8Array(1 << 20).fill(0x01);
    const blk = await openImage({ filename: top, format: 'qcow2' });
    const writes: Array<[number, number, number]> = [];
    // Several disjoint pieces of cluster 0 and of cluster 2, all issued at once.
    for (let i = 0; i < 8; i++) writes.push([i * 8192 + 1000, 3000, 0x10 + i]);
    for (let i = 0; i < 4; i++) writes.push([2 * 65536 + i * 16384, 16384, 0x30 + i]);
    await Promise.all(writes.map(([off, len, b]) => blk.write(off, new Uint8Array(len).fill(b))));
    for (const [off, len, b] of writes) model.fill(b, off, off + len);
    await blk.close();
    expectCleanCheck(top);
    expectSameAs(top, model, 'race');
  });

  it('many writers racing into the same new clusters over a backing file (seeded)', async () => {
    for (const cs of [512, 4096, 65536]) {
      const base = tmp.path(`race2-base-${cs}.raw`);
      const top = tmp.path(`race2-top-${cs}.qcow2`);
      const size = 64 * cs;
      const model = new Uint8Array(size);
      for (let i = 0; i < size; i++) model[i] = (i * 13) & 0xff;
      writeRaw(base, model);
      await createImage({ filename: top, format: 'qcow2', size, options: { backing_file: base, backing_fmt: 'raw', cluster_size: String(cs) } });
      const blk = await openImage({ filename: top, format: 'qcow2' });
      let seed = cs;
      const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
      for (let round = 0; round < 8; round++) {
        // 16 disjoint pieces spread over clusters 8*round .. 8*round+1 (and sometimes spilling into the next).
        const start = 8 * round * cs;
        const piece = Math.floor((2 * cs) / 16);
        const order = Array.from({ length: 16 }, (_, k) => k).sort(() => rnd() - 0.5);
        await Promise.all(order.map((k) => {
          const off = start + k * piece + 1;
          const len = piece - 2;
          const b = 0x40 + round * 16 + k;
          model.fill(b & 0xff, off, off + len);
          return blk.write(off, new Uint8Array(len).fill(b & 0xff));
        }));
      }
      await blk.close();
      expectCleanCheck(top);
      expectSameAs(top, model, `race2-${cs}`);
    }
  });

  it('grows the refcount table and allocates refcount blocks', async () => {
    const f = tmp.path('grow.qcow2');
    // 512-byte clusters with 64-bit refcounts: one block counts 64 clusters (32 KiB).
    await createImage({ filename: f, format: 'qcow2', size: 16 << 20, options: { cluster_size: '512', refcount_bits: '64' } });
    const model = new Uint8Array(16 << 20);
    const blk = await openImage({ filename: f, format: 'qcow2' });
    for (let i = 0; i < 40; i++) await writeModel(blk, model, i * 397 * 1024, 200 * 1024 + i, 0x80 + i);
    await blk.close();
    expectCleanCheck(f);
    expectSameAs(f, model, 'grow');
    const header = new DataView(readFileSync(f).buffer);
    expect(Number(header.getBigUint64(48))).toBeGreaterThan(512); // the table moved
  });

  it('overwrites qemu-written compressed and zero clusters', async () => {
    const f = tmp.path('ovw.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', 'cluster_size=4096', f, '1M');
    qemuIo(f, 'write -c -P 0x71 0 4k', 'write -c -P 0x72 4k 4k', 'write -c -P 0x73 8k 4k', 'write -z 16k 8k', 'write -P 0x74 32k 4k');
    const model = new Uint8Array(1 << 20);
    model.fill(0x71, 0, 4096).fill(0x72, 4096, 8192).fill(0x73, 8192, 12288).fill(0x74, 32768, 36864);
    const blk = await openImage({ filename: f, format: 'qcow2' });
    await writeModel(blk, model, 4096 + 100, 50, 0x99);
    await writeModel(blk, model, 16384 + 10, 10, 0x98);
    await writeModel(blk, model, 0, 4096, 0x97);
    await blk.close();
    expectCleanCheck(f);
    expectSameAs(f, model, 'ovw');
  });

  it('discards and zeroes whole clusters (v3)', async () => {
    const f = tmp.path('disc.qcow2');
    await createImage({ filename: f, format: 'qcow2', size: 4 << 20 });
    const model = new Uint8Array(4 << 20);
    let blk = await openImage({ filename: f, format: 'qcow2', discard: 'unmap' });
    await writeModel(blk, model, 0, 1 << 20, 0x42);
    await blk.discard(65536, 65536 * 3);
    model.fill(0, 65536, 65536 * 4);
    await blk.writeZeroes(5 * 65536 + 7, 65536 * 2);
    model.fill(0, 5 * 65536 + 7, 7 * 65536 + 7);
    await blk.close();
    expectCleanCheck(f);
    expectSameAs(f, model, 'disc');
    blk = await openImage({ filename: f, format: 'qcow2', readOnly: true });
    expect(await blk.blockStatus(65536, 4 << 20)).toMatchObject({ length: 3 * 65536, zero: true, data: false });
    await blk.close();
    const map = JSON.parse(qemuImg('map', '--output=json', f)) as Array<{ start: number; zero: boolean; data: boolean }>;
    expect(map.find((e) => e.start === 65536)).toMatchObject({ zero: true, data: false });
  });
});
