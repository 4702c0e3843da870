// Synchronous small buffered writes (OpenSpec.singleClient / file option
// x-sync-writes): which requests take the path, that data and errors are the
// same as through the thread pool, and that servers (the default) never take it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileDriverState, openImage, type BlockBackend, type OpenSpec } from '@tsemu/block-core';
import { NOWAIT_MAX_BYTES, SYNC_BACKOFF_WRITES } from '../src/drivers/file.js'; // not part of the package's API

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'bc-syncw-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fileState(blk: BlockBackend): FileDriverState {
  const state = blk.root.file!.state;
  expect(state).toBeInstanceOf(FileDriverState);
  return state as FileDriverState;
}

async function image(name: string, spec: Partial<OpenSpec>): Promise<{ path: string; blk: BlockBackend }> {
  const path = join(dir, name);
  writeFileSync(path, new Uint8Array(1 << 20));
  return { path, blk: await openImage({ filename: path, format: 'raw', cache: 'writeback', ...spec }) };
}

describe('synchronous small writes', () => {
  it('is off by default and for servers', async () => {
    const { blk } = await image('default.raw', {});
    expect(fileState(blk).syncWrites).toBe(false);
    await blk.write(0, new Uint8Array(4096).fill(1));
    expect(fileState(blk).stats.syncWrites).toBe(0);
    await blk.close();
  });

  it('single-client tools: small single-buffer writes complete synchronously, with the same bytes on disk', async () => {
    const { path, blk } = await image('single.raw', { singleClient: true });
    const st = fileState(blk);
    expect(st.syncWrites).toBe(true);
    const want = new Uint8Array(1 << 20);
    // Where the file system honours RWF_NOWAIT for buffered writes (not ext4 or
    // tmpfs), that path serves them instead; the first write finds out.
    await blk.write(0, want.subarray(0, 512));
    const expectSync = !st.nowaitWrite;
    for (let i = 0; i < 64; i++) {
      const off = ((i * 37) % 250) * 4096 + (i % 3) * 512;
      const buf = new Uint8Array(4096).fill(i + 1);
      await blk.write(off, buf);
      want.set(buf, off);
    }
    // Past the size limit and vectored requests go through the thread pool.
    const big = new Uint8Array(NOWAIT_MAX_BYTES + 4096).fill(0xee);
    await blk.write(1 << 19, big);
    want.set(big, 1 << 19);
    await blk.writev(4096, [new Uint8Array(100).fill(7), new Uint8Array(200).fill(8)]);
    want.fill(7, 4096, 4196);
    want.fill(8, 4196, 4396);
    await blk.flush();
    const stats = { ...st.stats };
    await blk.close();
    expect(new Uint8Array(readFileSync(path))).toEqual(want);
    if (expectSync) {
      // 65 small writes: each went synchronously, unless a slow one (a loaded
      // machine) sent the next SYNC_BACKOFF_WRITES to the pool.
      expect(stats.syncWrites).toBeGreaterThanOrEqual(1);
      expect(stats.syncWrites + SYNC_BACKOFF_WRITES * stats.slowSyncWrites).toBeGreaterThanOrEqual(65);
      expect(stats.syncWrites).toBeLessThan(stats.writes);
    } else {
      expect(stats.nowaitWrites).toBeGreaterThanOrEqual(64);
    }
    expect(stats.datasyncs).toBe(1);
  });

  it('x-sync-writes=off overrides singleClient, =on turns it on for anyone', async () => {
    const off = await image('off.raw', { singleClient: true, options: { 'file.x-sync-writes': 'off' } });
    expect(fileState(off.blk).syncWrites).toBe(false);
    await off.blk.close();
    const on = await image('on.raw', { options: { 'file.x-sync-writes': 'on' } });
    expect(fileState(on.blk).syncWrites).toBe(true);
    await on.blk.close();
  });

  it('never for O_DSYNC or O_DIRECT files, whose writes must reach the disk', async () => {
    const dsync = await image('dsync.raw', { singleClient: true, cache: 'none', options: { 'file.x-no-odirect': 'on' } });
    expect(fileState(dsync.blk).hostCacheBypass).toBe('O_DSYNC');
    expect(fileState(dsync.blk).syncWrites).toBe(false);
    await dsync.blk.close();
  });

  it('errors come back as rejections, not throws', async () => {
    const { blk } = await image('err.raw', { singleClient: true, options: { 'file.x-no-nowait': 'on' } });
    const st = fileState(blk);
    expect(st.syncWrites).toBe(true);
    // A closed descriptor: EBADF from the synchronous pwrite must surface as a rejected promise.
    await blk.close();
    let threw = false;
    let p: Promise<void> | undefined;
    try {
      p = st.pwritev(0, 4096, [new Uint8Array(4096)], {});
    } catch {
      threw = true;
    }
    expect(threw).toBe(false);
    await expect(p).rejects.toMatchObject({ code: expect.stringMatching(/^E/) });
  });
});
