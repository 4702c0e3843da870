// Resize: growing across L1 boundaries (the L1 table moves) and shrinking,
// checked with qemu-img check / compare.
import { afterAll, describe, expect, it } from 'vitest';
import { createImage, openImage } from '@tsemu/block-core';
import { readAllTsemu, writeRaw } from './helpers/images.js';
import { expectCleanCheck, makeTempDir, qemuImg, qemuImgStatus, qemuIo } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

describe('resize', () => {
  it('grows past the L1 table and keeps the data', async () => {
    const f = tmp.path('grow.qcow2');
    // 512-byte clusters: one L2 table maps 32 KiB, one L1 cluster 2 MiB.
    await createImage({ filename: f, format: 'qcow2', size: 1 << 20, options: { cluster_size: '512' } });
    let blk = await openImage({ filename: f, format: 'qcow2' });
    await blk.write(1000, new Uint8Array(3000).fill(0x61));
    await blk.truncate(64 << 20);
    expect(await blk.getLength()).toBe(64 << 20);
    await blk.write((64 << 20) - 5000, new Uint8Array(5000).fill(0x62));
    await blk.close();
    expectCleanCheck(f);
    expect(JSON.parse(qemuImg('info', '--output=json', f))['virtual-size']).toBe(64 << 20);
    qemuIo(f, 'read -P 0x61 1000 3000', `read -P 0x62 ${(64 << 20) - 5000} 5000`, 'read -P 0 4000 1M');
    blk = await openImage({ filename: f, format: 'qcow2' });
    await blk.truncate(128 << 20);
    await blk.close();
    expectCleanCheck(f);
  });

  it('shrinks, freeing clusters and L2 tables past the end', async () => {
    const f = tmp.path('shrink.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', 'cluster_size=4096', f, '16M');
    qemuIo(f, 'write -P 0x71 0 16M');
    const blk = await openImage({ filename: f, format: 'qcow2', discard: 'unmap' });
    await blk.truncate(3 << 20, { shrink: true });
    await blk.close();
    const check = JSON.parse(qemuImg('check', '--output=json', f));
    expect(check['check-errors']).toBe(0);
    expect(check.leaks ?? 0).toBe(0);
    expect(check['allocated-clusters']).toBe(768);
    const model = new Uint8Array(3 << 20).fill(0x71);
    const raw = tmp.path('shrink.raw');
    writeRaw(raw, model);
    expect(qemuImgStatus('compare', '-f', 'raw', '-F', 'qcow2', raw, f).stdout).toContain('Images are identical.');
    expect((await readAllTsemu(f)).length).toBe(3 << 20);
  });

  it('refuses sizes QEMU refuses', async () => {
    const f = tmp.path('bad.qcow2');
    await createImage({ filename: f, format: 'qcow2', size: 1 << 20, options: { compat: '0.10' } });
    qemuImg('snapshot', '-c', 's', f);
    const blk = await openImage({ filename: f, format: 'qcow2' });
    await expect(blk.truncate(2 << 20)).rejects.toThrow("Can't resize a v2 image which has snapshots");
    await blk.close();
  });
});
