// The file driver's RWF_NOWAIT fast path: page-cache hits complete without the
// thread pool, misses (pages dropped with posix_fadvise DONTNEED), short
// transfers and errors take the asynchronous path, and the counters prove
// which path served each request. Data must be identical either way.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, existsSync, fdatasyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropCachedPages, hostIo } from '@tsemu/host-io';
import { FileDriverState, openImage, type BlockBackend } from '@tsemu/block-core';
import { NOWAIT_MAX_BYTES, NOWAIT_MAX_READ_SINGLE_CLIENT } from '../src/drivers/file.js'; // not part of the package's API

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'bc-nowait-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const KiB = 1024;

function fileState(blk: BlockBackend): FileDriverState {
  const state = blk.root.file!.state;
  expect(state).toBeInstanceOf(FileDriverState);
  return state as FileDriverState;
}

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 29 + seed) & 0xff;
  return out;
}

/** Drops the file's cached pages (see dropCachedPages); the test needs them gone. */
async function dropCache(fd: number, probeAt: number, from = 0): Promise<void> {
  expect(await dropCachedPages(fd, probeAt, from)).toBe(true);
}

/** An image file holding `data`, already on disk so its pages can be dropped. */
function imageWith(name: string, data: Uint8Array): string {
  const path = join(dir, name);
  const fd = openSync(path, 'w+');
  writeSync(fd, data, 0, data.length, 0);
  fdatasyncSync(fd);
  closeSync(fd);
  return path;
}

describe('file driver, RWF_NOWAIT fast path', () => {
  it('cached reads are served synchronously, single and vectored', async () => {
    const data = pattern(64 * KiB, 1);
    const blk = await openImage({ filename: imageWith('hit.raw', data), format: 'raw' });
    const st = fileState(blk).stats;
    expect(fileState(blk).nowaitRead).toBe(true);
    const buf = new Uint8Array(4 * KiB);
    for (let i = 0; i < 8; i++) {
      await blk.read(i * 4 * KiB, buf);
      expect(buf).toEqual(data.subarray(i * 4 * KiB, (i + 1) * 4 * KiB));
    }
    const a = new Uint8Array(1000), b = new Uint8Array(3000);
    await blk.readv(5, [a, b]);
    expect(a).toEqual(data.subarray(5, 1005));
    expect(b).toEqual(data.subarray(1005, 4005));
    expect(st.nowaitReads).toBe(9);
    expect(st.readFallbacks).toBe(0);
    await blk.close();
  });

  it('dropped pages fall back to the asynchronous read (EAGAIN), with the same data', async () => {
    const data = pattern(512 * KiB, 2);
    const blk = await openImage({ filename: imageWith('miss.raw', data), format: 'raw' });
    const state = fileState(blk);
    const buf = new Uint8Array(16 * KiB);
    // A few attempts: a non-blocking read starts reading what it misses and
    // takes it if that I/O is already done when it looks again (fast device, busy machine).
    for (let attempt = 0; attempt < 5 && state.stats.readFallbacks === 0; attempt++) {
      await dropCache(state.fd, 0);
      buf.fill(0);
      await blk.read(256 * KiB, buf);
      expect(buf).toEqual(data.subarray(256 * KiB, 272 * KiB));
    }
    expect(state.stats.readFallbacks).toBe(1);
    const hits = state.stats.nowaitReads;
    expect(state.nowaitRead).toBe(true); // a miss does not turn the fast path off
    // The blocking read filled the cache: the same range is now a hit.
    buf.fill(0);
    await blk.read(256 * KiB, buf);
    expect(buf).toEqual(data.subarray(256 * KiB, 272 * KiB));
    expect(state.stats.nowaitReads).toBe(hits + 1);
    await blk.close();
  });

  it('a partly cached range: the cached prefix plus an asynchronous rest', async () => {
    // The range starts one page before 2 MiB: that page is read (a miss),
    // then the pages from 2 MiB on are dropped again, so the range has a
    // cached prefix and a missing rest (one CI run had the whole range cached
    // after the first read: large folios, readahead). A non-blocking read
    // starts reading what it misses and takes it when that I/O is already done
    // (a fast device), so a few attempts, one of which must take the
    // asynchronous path for the rest. Drops probe away from the range (a
    // probe is a non-blocking read too).
    const data = pattern(4 << 20, 3);
    const at = (2 << 20) - 4 * KiB;
    const blk = await openImage({ filename: imageWith('part.raw', data), format: 'raw' });
    const state = fileState(blk);
    const first = new Uint8Array(4 * KiB);
    const whole = new Uint8Array(NOWAIT_MAX_BYTES);
    let split = false;
    for (let attempt = 0; attempt < 5 && !split; attempt++) {
      await dropCache(state.fd, 0);
      await blk.read(at, first);
      expect(first).toEqual(data.subarray(at, at + 4 * KiB));
      await dropCache(state.fd, (4 << 20) - 4 * KiB, 2 << 20);
      const fallbacks = state.stats.readFallbacks, hits = state.stats.nowaitReads;
      whole.fill(0);
      await blk.read(at, whole);
      expect(whole).toEqual(data.subarray(at, at + NOWAIT_MAX_BYTES));
      split = state.stats.readFallbacks === fallbacks + 1 && state.stats.nowaitReads === hits;
    }
    expect(split).toBe(true);
    await blk.close();
  });

  it('requests above NOWAIT_MAX_BYTES go straight to the thread pool', async () => {
    const data = pattern(2 * NOWAIT_MAX_BYTES, 11);
    const blk = await openImage({ filename: imageWith('big.raw', data), format: 'raw' });
    const state = fileState(blk);
    const buf = new Uint8Array(NOWAIT_MAX_BYTES + 512);
    await blk.read(0, buf);
    expect(buf).toEqual(data.subarray(0, buf.length));
    expect(state.stats).toMatchObject({ reads: 1, nowaitReads: 0, readFallbacks: 0 });
    await blk.close();
  });

  it('single-client tools (or x-sync-reads=on) try RWF_NOWAIT for reads up to 4 MiB; a miss still takes the pool', async () => {
    const data = pattern(4 * NOWAIT_MAX_BYTES, 12);
    const path = imageWith('bigsync.raw', data);
    const blk = await openImage({ filename: path, format: 'raw', singleClient: true });
    const state = fileState(blk);
    expect(state.nowaitReadMax).toBe(NOWAIT_MAX_READ_SINGLE_CLIENT);
    const buf = new Uint8Array(3 * NOWAIT_MAX_BYTES);
    await blk.read(4096, buf);
    expect(buf).toEqual(data.subarray(4096, 4096 + buf.length));
    expect(state.stats).toMatchObject({ reads: 1, nowaitReads: 1, readFallbacks: 0 });
    // A miss after dropping the pages (a few attempts: a non-blocking read
    // starts reading what it misses and takes it if that I/O is already done).
    for (let attempt = 0; attempt < 5 && state.stats.readFallbacks === 0; attempt++) {
      await dropCache(state.fd, 0);
      buf.fill(0);
      await blk.read(4096, buf);
      expect(buf).toEqual(data.subarray(4096, 4096 + buf.length));
    }
    expect(state.stats.readFallbacks).toBe(1);
    expect(state.stats.nowaitReads).toBe(state.stats.reads - 1);
    await blk.close();
    const off = await openImage({ filename: path, format: 'raw', singleClient: true, options: { 'file.x-sync-reads': 'off' } });
    expect(fileState(off).nowaitReadMax).toBe(NOWAIT_MAX_BYTES);
    await off.close();
    const on = await openImage({ filename: path, format: 'raw', options: { 'file.x-sync-reads': 'on' } });
    expect(fileState(on).nowaitReadMax).toBe(NOWAIT_MAX_READ_SINGLE_CLIENT);
    await on.close();
  });

  it('reads at and past EOF zero-fill on the fast path as on the slow one', async () => {
    const data = pattern(1000, 4);
    const blk = await openImage({ filename: imageWith('eof.raw', data), format: 'raw' });
    const state = fileState(blk);
    const tail = new Uint8Array(512).fill(0xee);
    await blk.root.file!.read(900, tail);
    expect(tail.subarray(0, 100)).toEqual(data.subarray(900));
    expect(tail.subarray(100).every((x) => x === 0)).toBe(true);
    const past = new Uint8Array(512).fill(0xee);
    await blk.root.file!.read(4096, past);
    expect(past.every((x) => x === 0)).toBe(true);
    expect(state.stats.readFallbacks).toBe(2); // a short read is never reported as a hit
    await blk.close();
  });

  it('writes: served or refused once (EOPNOTSUPP turns them off); the data lands either way', async () => {
    const path = imageWith('w.raw', new Uint8Array(64 * KiB));
    const blk = await openImage({ filename: path, format: 'raw' });
    const state = fileState(blk);
    expect(state.nowaitWrite).toBe(true);
    for (let i = 0; i < 4; i++) await blk.write(i * 8 * KiB, pattern(4 * KiB, 10 + i));
    await blk.writev(40 * KiB, [pattern(100, 20), pattern(300, 21)]);
    const st = state.stats;
    expect(st.nowaitWrites + st.writeFallbacks).toBeGreaterThanOrEqual(1);
    // ext4 and tmpfs refuse buffered RWF_NOWAIT writes: one attempt, then the async path for good.
    if (!state.nowaitWrite) expect(st.writeFallbacks).toBe(1);
    else expect(st.nowaitWrites + st.writeFallbacks).toBe(5);
    await blk.flush();
    await blk.close();
    const file = readFileSync(path);
    for (let i = 0; i < 4; i++) expect(new Uint8Array(file.subarray(i * 8 * KiB, i * 8 * KiB + 4 * KiB))).toEqual(pattern(4 * KiB, 10 + i));
    expect(new Uint8Array(file.subarray(40 * KiB, 40 * KiB + 100))).toEqual(pattern(100, 20));
    expect(new Uint8Array(file.subarray(40 * KiB + 100, 40 * KiB + 400))).toEqual(pattern(300, 21));
  });

  it('x-no-nowait=on keeps every request on the asynchronous path', async () => {
    const data = pattern(16 * KiB, 5);
    const blk = await openImage({ filename: imageWith('off.raw', data), format: 'raw', options: { 'file.x-no-nowait': 'on' } });
    const state = fileState(blk);
    const buf = new Uint8Array(4 * KiB);
    await blk.read(4 * KiB, buf);
    await blk.write(0, pattern(4 * KiB, 6));
    expect(buf).toEqual(data.subarray(4 * KiB, 8 * KiB));
    expect(state.stats).toMatchObject({ reads: 1, writes: 1, nowaitReads: 0, nowaitWrites: 0, readFallbacks: 0, writeFallbacks: 0 });
    await blk.close();
  });

  it('O_DIRECT never tries it; the O_DSYNC fallback reads through it but writes synchronously', async () => {
    const data = pattern(16 * KiB, 7);
    const direct = await openImage({ filename: imageWith('direct.raw', data), format: 'raw', cache: 'none' });
    const d = fileState(direct);
    if (d.hostCacheBypass === 'O_DIRECT') {
      expect(d.nowaitRead).toBe(false);
      expect(d.nowaitWrite).toBe(false);
      const buf = new Uint8Array(4 * KiB);
      await direct.read(0, buf);
      expect(buf).toEqual(data.subarray(0, 4 * KiB));
      expect(d.stats.nowaitReads + d.stats.readFallbacks).toBe(0);
    }
    await direct.close();

    const dsync = await openImage({ filename: join(dir, 'direct.raw'), format: 'raw', cache: 'none', options: { 'file.x-no-odirect': 'on' } });
    const s = fileState(dsync);
    expect(s.hostCacheBypass).toBe('O_DSYNC');
    expect(s.nowaitRead).toBe(true);
    expect(s.nowaitWrite).toBe(false);
    await dsync.write(0, pattern(4 * KiB, 8));
    expect(s.stats.nowaitWrites + s.stats.writeFallbacks).toBe(0);
    const back = new Uint8Array(4 * KiB);
    await dsync.read(0, back);
    expect(back).toEqual(pattern(4 * KiB, 8));
    expect(s.stats.nowaitReads).toBe(1);
    await dsync.close();
  });

  it('tmpfs: reads are refused with EOPNOTSUPP once, then the fast path stays off', async () => {
    if (!existsSync('/dev/shm')) return;
    const shm = mkdtempSync(join('/dev/shm', 'bc-nowait-'));
    try {
      const path = join(shm, 't.raw');
      const fd = openSync(path, 'w+');
      writeSync(fd, pattern(16 * KiB, 9));
      closeSync(fd);
      const blk = await openImage({ filename: path, format: 'raw' });
      const state = fileState(blk);
      const buf = new Uint8Array(4 * KiB);
      for (let i = 0; i < 3; i++) {
        await blk.read(i * 4 * KiB, buf);
        expect(buf).toEqual(pattern(16 * KiB, 9).subarray(i * 4 * KiB, (i + 1) * 4 * KiB));
      }
      // Either the kernel serves tmpfs reads with RWF_NOWAIT (all hits) or refuses once.
      if (state.nowaitRead) expect(state.stats.nowaitReads).toBe(3);
      else expect(state.stats.readFallbacks).toBe(1);
      await blk.close();
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  });

  it('after close, a read fails exactly as on the asynchronous path (the fast path hides no error)', async () => {
    const path = imageWith('closed.raw', pattern(8 * KiB, 10));
    const fast = await openImage({ filename: path, format: 'raw' });
    const slow = await openImage({ filename: path, format: 'raw', options: { 'file.x-no-nowait': 'on' } });
    const states = [fileState(fast), fileState(slow)];
    await fast.close();
    await slow.close();
    const errors = await Promise.all(states.map((s) => s.preadv(0, 4096, [new Uint8Array(4096)]).then(() => null, (e: unknown) => e)));
    expect(errors[0]).not.toBeNull();
    expect(errors[0]).toEqual(errors[1]);
    expect(states[0]!.stats.readFallbacks).toBe(1);
  });
});
