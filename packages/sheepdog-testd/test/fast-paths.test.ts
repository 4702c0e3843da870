// The peer's shortcuts (issue 5) must not change what a client sees:
// requests read in place into their payload buffers, 4 MiB payload buffers
// recycled once their write-behind landed, early writeback of cache files
// (with `sync` only), the folder fsync that makes FLUSH_VDI's renames
// durable, and small writes to a created object held in memory until
// FLUSH_VDI (or until 1 MiB of them), around big writes to its file.
import { describe, it, expect, afterEach, vi } from 'vitest';
import {
  SheepdogIoConnection, newVdi, SD_OP_CREATE_AND_WRITE_OBJ, SD_OP_WRITE_OBJ, SD_OP_READ_OBJ, SD_OP_FLUSH_VDI,
  SD_FLAG_CMD_WRITE, SD_FLAG_CMD_CACHE, SD_FLAG_CMD_DIRECT, SD_RES_SUCCESS, SD_DATA_OBJ_SIZE,
  dataOidHi, inodeOidHi,
} from '@tsemu/block-sheepdog';
import { startPeer, pattern, peerAddress as addr, type Peer } from './helpers.js';

const W = SD_FLAG_CMD_WRITE | SD_FLAG_CMD_CACHE;
let peer: Peer | null = null;

afterEach(async () => {
  await peer?.cleanup();
  peer = null;
});

/** Sends `count` whole-object creates at once (all in flight), then FLUSH_VDI; returns the contents. */
async function writeObjects(p: Peer, vid: number, count: number, seed: number): Promise<Uint8Array[]> {
  const io = await SheepdogIoConnection.open(addr(p));
  const objs = Array.from({ length: count }, (_, i) => pattern(SD_DATA_OBJ_SIZE, seed + i));
  const results = await Promise.all(objs.map((data, i) => io.request(SD_OP_CREATE_AND_WRITE_OBJ, W, dataOidHi(vid), i, 0, 0, 1, 0, data, null)));
  expect(new Set(results)).toEqual(new Set([SD_RES_SUCCESS]));
  expect(await io.request(SD_OP_FLUSH_VDI, SD_FLAG_CMD_CACHE, inodeOidHi(vid), 0, 0, 0, 0, 0, null, null)).toBe(SD_RES_SUCCESS);
  await io.close();
  return objs;
}

async function expectObjects(p: Peer, vid: number, objs: Uint8Array[]): Promise<void> {
  const io = await SheepdogIoConnection.open(addr(p));
  const got = new Uint8Array(SD_DATA_OBJ_SIZE);
  for (let i = 0; i < objs.length; i++) {
    expect(await io.request(SD_OP_READ_OBJ, SD_FLAG_CMD_DIRECT, dataOidHi(vid), i, 0, 0, 1, 0, null, got)).toBe(SD_RES_SUCCESS);
    expect(Buffer.compare(Buffer.from(got), Buffer.from(objs[i]!)), `object ${i}`).toBe(0);
  }
  await io.close();
}

describe('whole-object write fast paths', () => {
  it('reads requests in place and recycles payload buffers without mixing up objects (durable after FLUSH_VDI)', async () => {
    peer = await startPeer({ flavour: '0.5.6', sync: true });
    const vid = await newVdi(addr(peer), 'fast1', 64 << 20, 0, false);
    // 12 objects in flight: three times the write-behinds allowed at once, so buffers come back and are reused.
    const objs = await writeObjects(peer, vid, 12, 100);
    // On the Node versions this package supports, accepted sockets read in place (else the fallback ran).
    expect(peer.server.inPlaceConnections).toBeGreaterThan(0);
    expect(await peer.server.loseCache()).toBe(0); // everything was flushed
    await expectObjects(peer, vid, objs);
    // Renames into the store were followed by an fsync of the folder.
    expect(peer.server.node.store.dirSyncCount).toBeGreaterThan(0);
  });

  it('writes cache files back early with sync, and never without', async () => {
    peer = await startPeer({ flavour: '0.5.6', sync: true });
    const vid = await newVdi(addr(peer), 'fast2', 64 << 20, 0, false);
    const io = await SheepdogIoConnection.open(addr(peer));
    const objs = [pattern(SD_DATA_OBJ_SIZE, 7), pattern(SD_DATA_OBJ_SIZE, 8)];
    for (let i = 0; i < objs.length; i++) {
      expect(await io.request(SD_OP_CREATE_AND_WRITE_OBJ, W, dataOidHi(vid), i, 0, 0, 1, 0, objs[i]!, null)).toBe(SD_RES_SUCCESS);
    }
    // No FLUSH_VDI yet: the peer syncs the files on its own once they landed.
    await vi.waitFor(() => expect(peer!.server.node.cache.earlySyncCount).toBeGreaterThanOrEqual(2));
    // Early writeback is not a flush: a crash still loses the unflushed objects.
    expect(await peer.server.loseCache()).toBe(2);
    const got = new Uint8Array(SD_DATA_OBJ_SIZE);
    expect(await io.request(SD_OP_READ_OBJ, SD_FLAG_CMD_CACHE, dataOidHi(vid), 0, 0, 0, 1, 0, null, got)).not.toBe(SD_RES_SUCCESS);
    await io.close();
    await peer.cleanup();

    peer = await startPeer({ flavour: '0.5.6', sync: false });
    const vid2 = await newVdi(addr(peer), 'fast3', 64 << 20, 0, false);
    const objs2 = await writeObjects(peer, vid2, 3, 200);
    await expectObjects(peer, vid2, objs2);
    expect(peer.server.node.cache.earlySyncCount).toBe(0);
    expect(peer.server.node.store.dirSyncCount).toBe(0);
  });

  it('small writes around big ones on a created object keep their order in reads, FLUSH_VDI and after a lost cache', async () => {
    peer = await startPeer({ flavour: '0.5.6', sync: true });
    const vid = await newVdi(addr(peer), 'fast4', 64 << 20, 0, false);
    const io = await SheepdogIoConnection.open(addr(peer));
    const want = new Uint8Array(SD_DATA_OBJ_SIZE);
    const sent: Array<Promise<number>> = [];
    const put = (offset: number, data: Uint8Array, create = false): void => {
      want.set(data, offset);
      sent.push(io.request(create ? SD_OP_CREATE_AND_WRITE_OBJ : SD_OP_WRITE_OBJ, W, dataOidHi(vid), 0, 0, 0, 1, offset, data, null));
    };
    put(8192, pattern(4096, 1), true);
    // 1.5 MiB of 16 KiB writes, overlapping each other: past 1 MiB they go to the file.
    for (let i = 0; i < 96; i++) put((i * 16384 + (i % 3) * 5000) % (SD_DATA_OBJ_SIZE - 16384), pattern(16384, 10 + i));
    put(1 << 20, pattern(1 << 20, 200)); // big: over some of them, after them
    for (let i = 0; i < 40; i++) put(((i * 7919) % 4000) * 1024, pattern(3000, 300 + i)); // small again, some inside the big one
    // All in flight at once, then a read behind them.
    const got = new Uint8Array(SD_DATA_OBJ_SIZE);
    sent.push(io.request(SD_OP_READ_OBJ, SD_FLAG_CMD_CACHE, dataOidHi(vid), 0, 0, 0, 1, 0, null, got));
    expect(new Set(await Promise.all(sent))).toEqual(new Set([SD_RES_SUCCESS]));
    expect(Buffer.compare(Buffer.from(got), Buffer.from(want))).toBe(0);
    expect(await io.request(SD_OP_FLUSH_VDI, SD_FLAG_CMD_CACHE, inodeOidHi(vid), 0, 0, 0, 0, 0, null, null)).toBe(SD_RES_SUCCESS);
    // Written after the flush, then lost with the cache.
    expect(await io.request(SD_OP_WRITE_OBJ, W, dataOidHi(vid), 0, 0, 0, 1, 0, pattern(4096, 999), null)).toBe(SD_RES_SUCCESS);
    await io.close();
    expect(await peer.server.loseCache()).toBe(1);
    await expectObjects(peer, vid, [want]);
  });
});
