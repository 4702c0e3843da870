import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileDriverState, openImage, type BlockBackend } from '@tsemu/block-core';

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'bc-file-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fileState(blk: BlockBackend): FileDriverState {
  const state = blk.root.file!.state;
  expect(state).toBeInstanceOf(FileDriverState);
  return state as FileDriverState;
}

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

const SHM = '/dev/shm';
const shmIsTmpfs = existsSync(SHM);

describe('file driver, buffered', () => {
  it('vector reads/writes at byte offsets; reads past EOF at node level zero-fill', async () => {
    const path = join(dir, 'v.raw');
    writeFileSync(path, new Uint8Array(1000).fill(7));
    const blk = await openImage({ filename: path, format: 'raw' });
    await blk.writev(3, [pattern(10, 1), pattern(20, 2)]);
    const a = new Uint8Array(10), b = new Uint8Array(20);
    await blk.readv(3, [a, b]);
    expect(a).toEqual(pattern(10, 1));
    expect(b).toEqual(pattern(20, 2));
    const tail = new Uint8Array(512).fill(0xee);
    await blk.root.file!.read(900, tail);
    expect(tail.subarray(0, 100).every((x) => x === 7)).toBe(true);
    expect(tail.subarray(100).every((x) => x === 0)).toBe(true);
    expect(fileState(blk).hostCacheBypass).toBe('none');
    expect(fileState(blk).requestAlignment).toBe(1);
    await blk.close();
  });

  it('flush is fdatasync; truncate grows sparsely; allocatedFileSize follows st_blocks', async () => {
    const path = join(dir, 't.raw');
    writeFileSync(path, new Uint8Array(0));
    const blk = await openImage({ filename: path, format: 'raw' });
    await blk.truncate(1 << 20);
    expect(await blk.getLength()).toBe(1 << 20);
    expect(await blk.allocatedFileSize()).toBe(0);
    await blk.write(65536, new Uint8Array(65536).fill(1));
    expect(await blk.allocatedFileSize()).toBeGreaterThanOrEqual(65536);
    const before = fileState(blk).stats.datasyncs;
    await blk.flush();
    expect(fileState(blk).stats.datasyncs).toBe(before + 1);
    await blk.close();
    expect(statSync(path).size).toBe(1 << 20);
  });

  it('discard at the tail punches a real hole; in the middle it reads back zeroes', async () => {
    const path = join(dir, 'd.raw');
    writeFileSync(path, new Uint8Array(1 << 20).fill(9));
    const blk = await openImage({ filename: path, format: 'raw', discard: 'unmap' });
    const full = (await blk.allocatedFileSize())!;
    await blk.discard(512 * 1024, 512 * 1024);
    expect(await blk.getLength()).toBe(1 << 20);
    expect((await blk.allocatedFileSize())!).toBeLessThan(full);
    await blk.discard(4096, 4096);
    await blk.close();
    const bytes = readFileSync(path);
    expect(bytes.length).toBe(1 << 20);
    expect(bytes.subarray(4096, 8192).every((x) => x === 0)).toBe(true);
    expect(bytes[4095]).toBe(9);
    expect(bytes.subarray(512 * 1024).every((x) => x === 0)).toBe(true);
  });

  it('write-zeroes with unmap at the tail deallocates; without unmap it writes zeroes', async () => {
    const path = join(dir, 'z.raw');
    writeFileSync(path, new Uint8Array(1 << 20).fill(5));
    const blk = await openImage({ filename: path, format: 'raw', discard: 'unmap' });
    const full = (await blk.allocatedFileSize())!;
    await blk.writeZeroes(0, 4096);
    await blk.writeZeroes(768 * 1024, 256 * 1024, { mayUnmap: true });
    expect((await blk.allocatedFileSize())!).toBeLessThan(full);
    await blk.close();
    const bytes = readFileSync(path);
    expect(bytes.subarray(0, 4096).every((x) => x === 0)).toBe(true);
    expect(bytes[4096]).toBe(5);
    expect(bytes.subarray(768 * 1024).every((x) => x === 0)).toBe(true);
  });
});

describe('file driver, cache.direct', () => {
  it('O_DIRECT: logical-block alignment, aligned bounce buffers, unaligned I/O still correct', async () => {
    const path = join(dir, 'direct.raw');
    writeFileSync(path, pattern(1 << 20, 3));
    const blk = await openImage({ filename: path, format: 'raw', cache: 'none' });
    const st = fileState(blk);
    expect(['O_DIRECT', 'O_DSYNC']).toContain(st.hostCacheBypass);
    expect(blk.info().hostCacheBypass).toBe(st.hostCacheBypass);
    if (st.hostCacheBypass === 'O_DIRECT') expect([512, 4096]).toContain(st.requestAlignment);
    await blk.write(777, pattern(3000, 4));
    const back = new Uint8Array(3000);
    await blk.read(777, back);
    expect(back).toEqual(pattern(3000, 4));
    // Many concurrent requests share the small bounce pool.
    await Promise.all(Array.from({ length: 16 }, (_, i) => blk.write(i * 4096 + 1, pattern(100, i))));
    await blk.close();
    const bytes = readFileSync(path);
    expect(bytes.subarray(777, 3777)).toEqual(Buffer.from(pattern(3000, 4)));
    for (let i = 0; i < 16; i++) expect(bytes.subarray(i * 4096 + 1, i * 4096 + 101)).toEqual(Buffer.from(pattern(100, i)));
    expect(bytes[0]).toBe(pattern(1, 3)[0]);
  });

  it('O_DIRECT on a file whose size is not block-aligned: the tail reads and writes correctly', async () => {
    const path = join(dir, 'odd.raw');
    writeFileSync(path, new Uint8Array(1000).fill(6));
    const blk = await openImage({ filename: path, format: 'raw', cache: 'none' });
    const all = new Uint8Array(1000);
    await blk.read(0, all);
    expect(all.every((x) => x === 6)).toBe(true);
    await blk.write(990, new Uint8Array(10).fill(2));
    await blk.close();
    const bytes = readFileSync(path);
    expect(bytes[989]).toBe(6);
    expect(bytes.subarray(990, 1000).every((x) => x === 2)).toBe(true);
  });

  it('O_DIRECT requests larger than one bounce chunk', async () => {
    const path = join(dir, 'big.raw');
    writeFileSync(path, new Uint8Array(3 << 20));
    const blk = await openImage({ filename: path, format: 'raw', cache: 'directsync' });
    const data = pattern((2 << 20) + 123, 8);
    await blk.write(5, data);
    const back = new Uint8Array(data.length);
    await blk.read(5, back);
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
    await blk.close();
    expect(readFileSync(path).subarray(5, 5 + data.length).equals(Buffer.from(data))).toBe(true);
  });

  it('an empty file probes O_DIRECT through a scratch file, which is removed', async () => {
    const sub = mkdtempSync(join(dir, 'empty-'));
    const path = join(sub, 'empty.raw');
    writeFileSync(path, new Uint8Array(0));
    const blk = await openImage({ filename: path, format: 'raw', cache: 'none' });
    expect(readdirSync(sub)).toEqual(['empty.raw']);
    await blk.truncate(8192);
    await blk.write(10, new Uint8Array([1, 2, 3]));
    await blk.close();
    expect([...readFileSync(path).subarray(10, 13)]).toEqual([1, 2, 3]);
  });

  it('when O_DIRECT is refused, cache=none falls back to O_DSYNC and says so', async () => {
    const path = join(dir, 'fallback.raw');
    writeFileSync(path, new Uint8Array(8192));
    const blk = await openImage({ filename: path, format: 'raw', cache: 'none', options: { 'file.x-no-odirect': 'on' } });
    expect(fileState(blk).hostCacheBypass).toBe('O_DSYNC');
    expect(blk.info().hostCacheBypass).toBe('O_DSYNC');
    expect(fileState(blk).requestAlignment).toBe(1);
    await blk.write(1, new Uint8Array([4]));
    await blk.close();
    expect(readFileSync(path)[1]).toBe(4);
  });

  it.runIf(shmIsTmpfs)('tmpfs (O_DIRECT refused on older kernels, accepted since 6.6) works either way', async () => {
    const sub = mkdtempSync(join(SHM, 'bc-file-'));
    try {
      const path = join(sub, 'shm.raw');
      writeFileSync(path, new Uint8Array(8192));
      const blk = await openImage({ filename: path, format: 'raw', cache: 'none' });
      const mode = fileState(blk).hostCacheBypass;
      expect(['O_DIRECT', 'O_DSYNC']).toContain(mode);
      expect(fileState(blk).requestAlignment).toBe(mode === 'O_DSYNC' ? 1 : fileState(blk).requestAlignment);
      await blk.write(1, new Uint8Array([4]));
      await blk.close();
      expect(readFileSync(path)[1]).toBe(4);
    } finally {
      rmSync(sub, { recursive: true, force: true });
    }
  });
});
