import { describe, expect, it } from 'vitest';
import { BlockError, openImage, type BlockBackend, type OpenSpec } from '@tsemu/block-core';
import { createMemoryDisk, type MemoryDisk } from './helpers/memory-driver.js';

let seq = 0;
async function memBackend(size: number, align: number, spec: Partial<OpenSpec> = {}, fua = false): Promise<{ disk: MemoryDisk; blk: BlockBackend }> {
  const name = `rl${seq++}`;
  const disk = createMemoryDisk(name, size);
  const blk = await openImage({
    format: 'raw', ...spec,
    options: { 'file.driver': 'test-mem', 'file.filename': name, 'file.align': String(align), ...(fua ? { 'file.fua': 'on' } : {}), ...spec.options },
  });
  return { disk, blk };
}

async function expectErrno(p: Promise<unknown>, code: string, message?: string): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(BlockError);
  expect((err as BlockError).code).toBe(code);
  if (message) expect((err as BlockError).message).toBe(message);
}

describe('alignment and read-modify-write', () => {
  it('pads an unaligned write into whole blocks and keeps neighbouring bytes', async () => {
    const { disk, blk } = await memBackend(16384, 4096);
    disk.data.fill(0x11);
    await blk.write(4095, new Uint8Array([1, 2, 3]));
    expect(disk.data[4094]).toBe(0x11);
    expect([...disk.data.subarray(4095, 4098)]).toEqual([1, 2, 3]);
    expect(disk.data[4098]).toBe(0x11);
    // One aligned write covering both touched blocks, after reading them.
    expect(disk.log).toEqual(['read 0 4096', 'read 4096 4096', 'write 0 8192']);
  });

  it('serves an unaligned read from aligned driver reads', async () => {
    const { disk, blk } = await memBackend(16384, 4096);
    for (let i = 0; i < disk.data.length; i++) disk.data[i] = i & 0xff;
    const buf = new Uint8Array(5000);
    await blk.read(100, buf);
    for (let i = 0; i < buf.length; i++) if (buf[i] !== ((100 + i) & 0xff)) throw new Error(`byte ${i}`);
    expect(disk.log).toEqual(['read 0 8192']);
  });

  it('an aligned write submitted after RMWs to its block waits for them (never overwritten by stale data)', async () => {
    const { disk, blk } = await memBackend(8192, 4096);
    disk.yields = 3;
    await Promise.all([
      blk.write(10, new Uint8Array(10).fill(0xaa)),
      blk.write(100, new Uint8Array(10).fill(0xbb)),
      blk.write(0, new Uint8Array(4096).fill(0xcc)),
    ]);
    expect(disk.data.subarray(0, 4096).every((x) => x === 0xcc)).toBe(true);
    expect(disk.log.at(-1)).toBe('write 0 4096');
  });

  it('keeps both of two concurrent RMW writes to different bytes of the same block', async () => {
    const { disk, blk } = await memBackend(8192, 4096);
    disk.yields = 2;
    const writes = [];
    for (let i = 0; i < 8; i++) writes.push(blk.write(i * 100 + 1, new Uint8Array(50).fill(i + 1)));
    await Promise.all(writes);
    for (let i = 0; i < 8; i++) expect(disk.data.subarray(i * 100 + 1, i * 100 + 51).every((x) => x === i + 1)).toBe(true);
  });

  it('a driver asking for serialised writes gets overlapping writes one at a time, in order', async () => {
    for (const serialise of [false, true]) {
      const { disk, blk } = await memBackend(8192, 1, { options: serialise ? { 'file.serialise': 'on' } : {} });
      let n = 0;
      disk.jitter = () => (n++ === 0 ? 6 : 0); // the first write is slow to land
      await Promise.all([blk.write(0, new Uint8Array(100).fill(1)), blk.write(50, new Uint8Array(100).fill(2))]);
      // Unserialised, the slow first write lands last and wins the overlap; serialised, submission order holds.
      expect(disk.data[75]).toBe(serialise ? 2 : 1);
    }
  });

  it('aligned writes go straight through without reads', async () => {
    const { disk, blk } = await memBackend(16384, 4096);
    await blk.writev(4096, [new Uint8Array(1024), new Uint8Array(3072).fill(7)]);
    expect(disk.log).toEqual(['write 4096 4096']);
    expect(disk.data[4096 + 1024]).toBe(7);
  });
});

describe('bounds and argument checks', () => {
  it('past-the-end reads and writes are EIO; negative offsets are EINVAL', async () => {
    const { blk } = await memBackend(8192, 1);
    await expectErrno(blk.read(8192, new Uint8Array(1)), 'EIO', 'Input/output error');
    await expectErrno(blk.write(8000, new Uint8Array(512)), 'EIO');
    await expectErrno(blk.writeZeroes(0, 8193), 'EIO');
    await expectErrno(blk.read(-1, new Uint8Array(1)), 'EINVAL');
    await expectErrno(blk.discard(-512, 512), 'EINVAL');
    await blk.read(8191, new Uint8Array(1));
    await blk.read(8192, new Uint8Array(0));
  });

  it('read-only backends refuse writes, zeroes, discard and truncate with EPERM', async () => {
    const { disk, blk } = await memBackend(8192, 1, { readOnly: true });
    const msg = 'Block node is read-only';
    await expectErrno(blk.write(0, new Uint8Array(1)), 'EPERM', msg);
    await expectErrno(blk.writeZeroes(0, 512), 'EPERM', msg);
    await expectErrno(blk.discard(0, 512), 'EPERM', msg);
    await expectErrno(blk.truncate(4096), 'EPERM', msg);
    expect(disk.log.filter((l) => !l.startsWith('read'))).toEqual([]);
    expect(blk.readOnly).toBe(true);
  });
});

describe('write zeroes, detect-zeroes and discard modes', () => {
  it('unaligned write-zeroes: RMW edges, driver zeroes in the middle', async () => {
    const { disk, blk } = await memBackend(5 * 4096, 4096);
    disk.data.fill(0xff);
    await blk.writeZeroes(100, 3 * 4096);
    expect(disk.data[99]).toBe(0xff);
    expect(disk.data.subarray(100, 100 + 3 * 4096).every((x) => x === 0)).toBe(true);
    expect(disk.data[100 + 3 * 4096]).toBe(0xff);
    expect(disk.log).toContain('zeroes 4096 8192');
  });

  it('detect-zeroes=on turns an all-zero write into write-zeroes without unmap', async () => {
    const { disk, blk } = await memBackend(8192, 1, { detectZeroes: 'on', discard: 'unmap' });
    await blk.write(0, new Uint8Array(4096));
    await blk.write(4096, new Uint8Array(4096).fill(1));
    expect(disk.log).toEqual(['zeroes 0 4096', 'write 4096 4096']);
  });

  it('detect-zeroes=unmap passes mayUnmap (and needs discard=unmap)', async () => {
    const { disk, blk } = await memBackend(8192, 1, { detectZeroes: 'unmap', discard: 'unmap' });
    await blk.write(0, new Uint8Array(4096));
    expect(disk.log).toEqual(['zeroes 0 4096 unmap']);
    await expectErrno(memBackend(8192, 1, { detectZeroes: 'unmap' }), 'EINVAL',
      'setting detect-zeroes to unmap is not allowed without setting discard operation to unmap');
  });

  it('detect-zeroes=off writes zero buffers as data', async () => {
    const { disk, blk } = await memBackend(8192, 1);
    await blk.write(0, new Uint8Array(4096));
    expect(disk.log).toEqual(['write 0 4096']);
  });

  it('mayUnmap: kept from a BlockBackend (QEMU\'s blk layer), dropped on a parent\'s request under discard=ignore', async () => {
    const { disk, blk } = await memBackend(8192, 1);
    await blk.writeZeroes(0, 4096, { mayUnmap: true });
    // BlockNode.writeZeroes is the path a parent node's driver takes to its child.
    await blk.root.writeZeroes(4096, 4096, { mayUnmap: true });
    expect(disk.log).toEqual(['zeroes 0 4096 unmap', 'zeroes 4096 4096']);
  });

  it('discard=ignore is a successful no-op; discard=unmap passes aligned ranges down', async () => {
    const ignore = await memBackend(16384, 4096);
    ignore.disk.data.fill(1);
    await ignore.blk.discard(0, 16384);
    expect(ignore.disk.log).toEqual([]);
    expect(ignore.disk.data[0]).toBe(1);
    const unmap = await memBackend(16384, 4096, { discard: 'unmap' });
    await unmap.blk.discard(100, 12300);
    expect(unmap.disk.log).toEqual(['discard 4096 8192']);
    await unmap.blk.discard(100, 200);
    expect(unmap.disk.log).toHaveLength(1);
  });
});

describe('flush and FUA', () => {
  it('WCE off: each write is followed by a flush before it resolves (driver without FUA)', async () => {
    const { disk, blk } = await memBackend(8192, 1, { cache: 'writethrough' });
    disk.yields = 1;
    await blk.write(0, new Uint8Array(512).fill(1));
    expect(disk.log).toEqual(['write 0 512 fua', 'flush']);
    await blk.writeZeroes(512, 512);
    expect(disk.log.slice(2)).toEqual(['zeroes 512 512 fua', 'flush']);
  });

  it('WCE off with a driver that has native FUA: no extra flush', async () => {
    const { disk, blk } = await memBackend(8192, 1, { cache: 'directsync' }, true);
    await blk.write(0, new Uint8Array(512));
    expect(disk.log).toEqual(['write 0 512 fua']);
  });

  it('writeback: no flush per write; explicit flush reaches the protocol node', async () => {
    const { disk, blk } = await memBackend(8192, 1);
    await blk.write(0, new Uint8Array(512).fill(1));
    await blk.write(512, new Uint8Array(512).fill(1));
    expect(disk.log).toEqual(['write 0 512', 'write 512 512']);
    await blk.flush();
    expect(disk.log.at(-1)).toBe('flush');
  });

  it('unsafe drops flushes', async () => {
    const { disk, blk } = await memBackend(8192, 1, { cache: 'unsafe' });
    await blk.write(0, new Uint8Array(512).fill(1));
    await blk.flush();
    expect(disk.log).toEqual(['write 0 512']);
  });

  it('setWriteCacheEnabled switches writeback <-> writethrough live', async () => {
    const { disk, blk } = await memBackend(8192, 1);
    expect(blk.writeCacheEnabled).toBe(true);
    await blk.write(0, new Uint8Array(1).fill(1));
    blk.setWriteCacheEnabled(false);
    expect(blk.cacheFlags.writeback).toBe(false);
    expect(blk.info().cacheMode).toBe('writethrough');
    await blk.write(1, new Uint8Array(1).fill(1));
    blk.setWriteCacheEnabled(true);
    await blk.write(2, new Uint8Array(1).fill(1));
    expect(disk.log).toEqual(['write 0 1', 'write 1 1 fua', 'flush', 'write 2 1']);
  });

  it('an explicit FUA write under WCE on is flushed too', async () => {
    const { disk, blk } = await memBackend(8192, 1);
    await blk.write(0, new Uint8Array(1), { fua: true });
    expect(disk.log).toEqual(['write 0 1 fua', 'flush']);
  });
});
