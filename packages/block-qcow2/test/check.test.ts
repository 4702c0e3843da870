// Qcow2Checker against `qemu-img check`, repair of dirty lazy-refcounts
// images on open, and writes into images with internal snapshots.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { openImage, type BlockBackend } from '@tsemu/block-core';
import { Qcow2Checker, readSnapshotTable, type Qcow2DriverState } from '@tsemu/block-qcow2';
import { firstDiff, readAllQemu, readAllTsemu } from './helpers/images.js';
import { expectCleanCheck, makeTempDir, qemuImg, qemuImgStatus } from './helpers/tools.js';
import { execFileSync, spawnSync } from 'node:child_process';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

function state(blk: BlockBackend): Qcow2DriverState {
  return blk.root.state as unknown as Qcow2DriverState;
}

async function ourCheck(file: string) {
  const blk = await openImage({ filename: file, format: 'qcow2', readOnly: true });
  try {
    return await new Qcow2Checker(state(blk).image).run('none');
  } finally {
    await blk.close();
  }
}

function qemuIoRun(file: string, ...cmds: string[]): void {
  const args: string[] = [];
  for (const c of cmds) args.push('-c', c);
  spawnSync('qemu-io', ['-f', 'qcow2', ...args, file], { stdio: 'ignore' });
}

describe('check', () => {
  it('agrees with qemu-img check on qemu-made images (compressed, zero, snapshots)', async () => {
    for (const cs of ['512', '4096', '65536']) {
      const f = tmp.path(`chk-${cs}.qcow2`);
      qemuImg('create', '-f', 'qcow2', '-o', `cluster_size=${cs}`, f, '8M');
      qemuIoRun(f, 'write -P 1 0 100k', `write -c -P 2 2M ${cs}`, 'write -z 3M 64k', 'write -P 3 5M 10k');
      qemuImg('snapshot', '-c', 's1', f);
      qemuIoRun(f, 'write -P 4 0 10k', 'write -P 5 6M 64k');
      const q = JSON.parse(qemuImg('check', '--output=json', f)) as Record<string, number>;
      const ours = await ourCheck(f);
      expect(ours.messages).toEqual([]);
      expect({ corruptions: ours.corruptions, leaks: ours.leaks }).toEqual({ corruptions: 0, leaks: 0 });
      expect(ours.totalClusters).toBe(q['total-clusters']);
      expect(ours.allocatedClusters).toBe(q['allocated-clusters']);
      expect(ours.fragmentedClusters).toBe(q['fragmented-clusters'] ?? 0);
      expect(ours.compressedClusters).toBe(q['compressed-clusters'] ?? 0);
      expect(ours.imageEndOffset).toBe(q['image-end-offset']);
    }
  });

  it('reports leaks and OFLAG_COPIED errors with qemu-img check\'s lines', async () => {
    const f = tmp.path('leak.qcow2');
    qemuImg('create', '-f', 'qcow2', f, '8M');
    qemuIoRun(f, 'write -P 1 0 256k');
    const bytes = new Uint8Array(readFileSync(f));
    const dv = new DataView(bytes.buffer);
    // Refcount block at cluster 2: raise the L2 table (4) and a data cluster (5); count cluster 20, past EOF.
    const block = 2 * 65536;
    dv.setUint16(block + 4 * 2, 2);
    dv.setUint16(block + 5 * 2, 2);
    dv.setUint16(block + 20 * 2, 1);
    writeFileSync(f, bytes);
    const q = qemuImgStatus('check', f);
    const ours = await ourCheck(f);
    expect(ours.messages.join('\n')).toBe(q.stderr.trim());
    // Refcount 2 under COPIED entries is corruption too (exit 2); past EOF is not compared.
    expect(q.status).toBe(2);
    expect({ leaks: ours.leaks, corruptions: ours.corruptions }).toEqual({ leaks: 2, corruptions: 2 });
  });

  it('repairs leaks with -r leaks lines like qemu-img', async () => {
    const f = tmp.path('leak2.qcow2');
    qemuImg('create', '-f', 'qcow2', f, '8M');
    qemuIoRun(f, 'write -P 1 0 256k');
    const bytes = new Uint8Array(readFileSync(f));
    const dv = new DataView(bytes.buffer);
    dv.setUint16(2 * 65536 + 6 * 2, 3);
    dv.setUint16(2 * 65536 + 8 * 2, 2);
    writeFileSync(f, bytes);
    const copy = tmp.path('leak2-qemu.qcow2');
    writeFileSync(copy, bytes);
    const q = qemuImgStatus('check', '-r', 'leaks', copy);
    const blk = await openImage({ filename: f, format: 'qcow2' });
    const ours = await state(blk).check('leaks');
    await blk.close();
    expect(ours.messages.join('\n')).toBe(q.stderr.trim());
    expect({ leaks: ours.leaks, fixed: ours.leaksFixed }).toEqual({ leaks: 0, fixed: 2 });
    expectCleanCheck(f);
  });

  it('repairs a dirty lazy-refcounts image left by a killed qemu-io, on a read-write open', async () => {
    const f = tmp.path('dirty.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', 'lazy_refcounts=on,cluster_size=4096', f, '64M');
    qemuIoRun(f, 'write -P 0x11 0 1M', 'write -P 0x22 40M 3M', 'sigraise 9');
    expect(qemuImgStatus('check', f).status).toBe(2);
    const expected = readAllQemu(f, tmp.path('dirty.raw'));
    const blk = await openImage({ filename: f, format: 'qcow2' });
    expect(blk.info().dirty).toBe(false);
    await blk.write(50 << 20, new Uint8Array(8192).fill(0x33));
    expected.fill(0x33, 50 << 20, (50 << 20) + 8192);
    await blk.close();
    expectCleanCheck(f);
    expect(firstDiff(await readAllTsemu(f), expected)).toBe(-1);
  });

  it('writes into an image with an internal snapshot without touching the snapshot', async () => {
    const f = tmp.path('snap.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', 'cluster_size=4096', f, '4M');
    qemuIoRun(f, 'write -P 0x41 0 1M', 'write -c -P 0x42 2M 4k');
    qemuImg('snapshot', '-c', 'before', f);
    const snapBefore = readAllQemu(f, tmp.path('snap-before.raw'));
    const blk = await openImage({ filename: f, format: 'qcow2' });
    const img = state(blk).image;
    const table = await readSnapshotTable(img.file, img.header.snapshotsOffset, img.header.nbSnapshots);
    expect(table.snapshots.map((s) => s.name)).toEqual(['before']);
    await blk.write(100, new Uint8Array(5000).fill(0x51));
    await blk.write(2 << 20, new Uint8Array(100).fill(0x52));
    await blk.writeZeroes(512 << 10, 64 << 10);
    await blk.close();
    expectCleanCheck(f);
    const now = readAllQemu(f, tmp.path('snap-now.raw'));
    expect(now[100]).toBe(0x51);
    expect(now[(2 << 20) + 100]).toBe(0x42);
    execFileSync('qemu-img', ['convert', '-l', 'snapshot.name=before', '-O', 'raw', f, tmp.path('snap-after.raw')]);
    expect(firstDiff(new Uint8Array(readFileSync(tmp.path('snap-after.raw'))), snapBefore)).toBe(-1);
    expect(firstDiff(await readAllTsemu(f), now)).toBe(-1);
  });
});
