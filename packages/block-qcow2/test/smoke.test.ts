import { afterAll, describe, expect, it } from 'vitest';
import { createImage, openImage } from '@tsemu/block-core';
import '@tsemu/block-qcow2';
import { expectCleanCheck, makeTempDir, qemuImg, qemuIo } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

describe('smoke', () => {
  it('reads a qemu-io written image', async () => {
    const f = tmp.path('a.qcow2');
    qemuImg('create', '-f', 'qcow2', f, '4M');
    qemuIo(f, 'write -P 0xab 0 64k', 'write -P 0xcd 100k 3k');
    const blk = await openImage({ filename: f, readOnly: true });
    const buf = new Uint8Array(200 * 1024);
    await blk.read(0, buf);
    expect(buf[0]).toBe(0xab);
    expect(buf[65535]).toBe(0xab);
    expect(buf[65536]).toBe(0);
    expect(buf[100 * 1024]).toBe(0xcd);
    expect(buf[103 * 1024 - 1]).toBe(0xcd);
    expect(buf[103 * 1024]).toBe(0);
    expect(blk.info().formatSpecific).toEqual({ type: 'qcow2', data: { compat: '1.1', 'compression-type': 'zlib', 'lazy-refcounts': false, 'refcount-bits': 16, corrupt: false, 'extended-l2': false } });
    await blk.close();
  });

  it('creates and writes an image qemu-img checks clean', async () => {
    const f = tmp.path('b.qcow2');
    const line = await createImage({ filename: f, format: 'qcow2', size: 64 << 20 });
    expect(line).toBe(`Formatting '${f}', fmt=qcow2 cluster_size=65536 extended_l2=off compression_type=zlib size=67108864 lazy_refcounts=off refcount_bits=16`);
    expectCleanCheck(f);
    const blk = await openImage({ filename: f, format: 'qcow2' });
    await blk.write(4096, new Uint8Array(10000).fill(0x5a));
    await blk.flush();
    await blk.close();
    expectCleanCheck(f);
    qemuIo(f, 'read -P 0x5a 4096 10000', 'read -P 0 0 4096', 'read -P 0 14096 50000');
  });
});
