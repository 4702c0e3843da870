// Big cache writes are acknowledged before they reach their cache file
// (object-cache.ts, "write-behind"): pipelined requests behind them must
// still see every byte in order, a flush must make them durable, and a
// crash must lose them like any other unflushed cache data. DIRECT writes
// go the other way: acknowledged only after their group commit (server.ts).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  SheepdogIoConnection, newVdi, SD_OP_CREATE_AND_WRITE_OBJ, SD_OP_WRITE_OBJ, SD_OP_READ_OBJ, SD_OP_FLUSH_VDI,
  SD_FLAG_CMD_WRITE, SD_FLAG_CMD_CACHE, SD_FLAG_CMD_DIRECT, SD_RES_SUCCESS, SD_RES_NO_OBJ, SD_DATA_OBJ_SIZE,
  dataOidHi, inodeOidHi, type SheepdogAddress,
} from '@tsemu/block-sheepdog';
import { startPeer, type Peer } from './helpers.js';

let peer: Peer;
const at = (): SheepdogAddress => ({ host: '127.0.0.1', port: peer.server.port });
const W = SD_FLAG_CMD_WRITE | SD_FLAG_CMD_CACHE;

beforeAll(async () => {
  peer = await startPeer({ flavour: '0.5.6', sync: true });
});
afterAll(async () => {
  await peer.cleanup();
});

function pattern(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = (i * 31 + seed * 7 + (i >>> 12)) & 0xff;
  return out;
}

describe('write-behind of big cache writes', () => {
  it('pipelined overlapping writes and a read behind them see every byte in order', async () => {
    const vid = await newVdi(at(), 'wb1', 64 << 20, 0, false);
    const io = await SheepdogIoConnection.open(at());
    const expected = pattern(SD_DATA_OBJ_SIZE, 1);
    const b = pattern(1 << 20, 2);
    const c = pattern(4096, 3);
    const d = pattern(512 << 10, 4);
    expected.set(b, 1 << 20);
    expected.set(c, (3 << 19) + 100);
    expected.set(d, 3 << 20);
    const got = new Uint8Array(SD_DATA_OBJ_SIZE);
    // None awaited before the next is sent: all in flight at once, run by the peer in order.
    const results = await Promise.all([
      io.request(SD_OP_CREATE_AND_WRITE_OBJ, W, dataOidHi(vid), 0, 0, 0, 1, 0, pattern(SD_DATA_OBJ_SIZE, 1), null),
      io.request(SD_OP_WRITE_OBJ, W, dataOidHi(vid), 0, 0, 0, 1, 1 << 20, b, null),
      io.request(SD_OP_WRITE_OBJ, W, dataOidHi(vid), 0, 0, 0, 1, (3 << 19) + 100, c, null),
      io.request(SD_OP_WRITE_OBJ, W, dataOidHi(vid), 0, 0, 0, 1, 3 << 20, d, null),
      io.request(SD_OP_READ_OBJ, SD_FLAG_CMD_CACHE, dataOidHi(vid), 0, 0, 0, 1, 0, null, got),
    ]);
    expect(results).toEqual([SD_RES_SUCCESS, SD_RES_SUCCESS, SD_RES_SUCCESS, SD_RES_SUCCESS, SD_RES_SUCCESS]);
    expect(Buffer.compare(Buffer.from(got), Buffer.from(expected))).toBe(0);
    // A DIRECT read right behind a big write is also served after it landed.
    const e = pattern(SD_DATA_OBJ_SIZE, 5);
    const direct = new Uint8Array(SD_DATA_OBJ_SIZE);
    const [w, r] = await Promise.all([
      io.request(SD_OP_WRITE_OBJ, W, dataOidHi(vid), 0, 0, 0, 1, 0, e, null),
      io.request(SD_OP_READ_OBJ, SD_FLAG_CMD_DIRECT, dataOidHi(vid), 0, 0, 0, 1, 0, null, direct),
    ]);
    expect([w, r]).toEqual([SD_RES_SUCCESS, SD_RES_SUCCESS]);
    expect(Buffer.compare(Buffer.from(direct), Buffer.from(e))).toBe(0);
    // Small writes to a created object wait for the end of the tick; a read in the same batch still sees them.
    const s1 = pattern(4096, 6);
    const s2 = pattern(512, 7);
    const small = new Uint8Array(8192);
    const smallResults = await Promise.all([
      io.request(SD_OP_CREATE_AND_WRITE_OBJ, W, dataOidHi(vid), 1, 0, 0, 1, 4096, s1, null),
      io.request(SD_OP_WRITE_OBJ, W, dataOidHi(vid), 1, 0, 0, 1, 4096 + 1000, s2, null),
      io.request(SD_OP_READ_OBJ, SD_FLAG_CMD_CACHE, dataOidHi(vid), 1, 0, 0, 1, 0, null, small),
    ]);
    expect(smallResults).toEqual([SD_RES_SUCCESS, SD_RES_SUCCESS, SD_RES_SUCCESS]);
    const want = new Uint8Array(8192);
    want.set(s1, 4096);
    want.set(s2, 4096 + 1000);
    expect(Buffer.compare(Buffer.from(small), Buffer.from(want))).toBe(0);
    await io.close();
  });

  it('FLUSH_VDI right behind big writes makes them survive a lost cache; unflushed ones are lost', async () => {
    const vid = await newVdi(at(), 'wb2', 64 << 20, 0, false);
    const io = await SheepdogIoConnection.open(at());
    const objs = [0, 1, 2, 3, 4, 5].map((i) => pattern(SD_DATA_OBJ_SIZE, 10 + i)); // more than MAX_BEHIND at once
    const sent = objs.map((data, i) => io.request(SD_OP_CREATE_AND_WRITE_OBJ, W, dataOidHi(vid), i, 0, 0, 1, 0, data, null));
    sent.push(io.request(SD_OP_FLUSH_VDI, SD_FLAG_CMD_CACHE, inodeOidHi(vid), 0, 0, 0, 0, 0, null, null));
    expect(new Set(await Promise.all(sent))).toEqual(new Set([SD_RES_SUCCESS]));
    // Written after the flush and never flushed: a crash loses it.
    const dirtyBefore = peer.server.node.cache.dirtyCount; // other tests' VDIs may hold dirty objects too
    expect(await io.request(SD_OP_CREATE_AND_WRITE_OBJ, W, dataOidHi(vid), 6, 0, 0, 1, 0, pattern(SD_DATA_OBJ_SIZE, 20), null)).toBe(SD_RES_SUCCESS);
    await io.close();
    expect(await peer.server.loseCache()).toBe(dirtyBefore + 1);
    const io2 = await SheepdogIoConnection.open(at());
    const got = new Uint8Array(SD_DATA_OBJ_SIZE);
    for (let i = 0; i < objs.length; i++) {
      expect(await io2.request(SD_OP_READ_OBJ, SD_FLAG_CMD_CACHE, dataOidHi(vid), i, 0, 0, 1, 0, null, got)).toBe(SD_RES_SUCCESS);
      expect(Buffer.compare(Buffer.from(got), Buffer.from(objs[i]!))).toBe(0);
    }
    expect(await io2.request(SD_OP_READ_OBJ, SD_FLAG_CMD_CACHE, dataOidHi(vid), 6, 0, 0, 1, 0, null, got)).toBe(SD_RES_NO_OBJ);
    await io2.close();
  });

  it('DIRECT writes in flight share fdatasyncs, and none is acknowledged before one completed', async () => {
    const vid = await newVdi(at(), 'gc1', 64 << 20, 0, false);
    const io = await SheepdogIoConnection.open(at());
    const D = SD_FLAG_CMD_WRITE | SD_FLAG_CMD_DIRECT;
    // Created in the cache and flushed: every commit so far has completed before the FLUSH_VDI reply.
    expect(await io.request(SD_OP_CREATE_AND_WRITE_OBJ, W, dataOidHi(vid), 0, 0, 0, 1, 0, pattern(4096, 30), null)).toBe(SD_RES_SUCCESS);
    expect(await io.request(SD_OP_CREATE_AND_WRITE_OBJ, W, dataOidHi(vid), 1, 0, 0, 1, 0, pattern(4096, 31), null)).toBe(SD_RES_SUCCESS);
    expect(await io.request(SD_OP_FLUSH_VDI, SD_FLAG_CMD_CACHE, inodeOidHi(vid), 0, 0, 0, 0, 0, null, null)).toBe(SD_RES_SUCCESS);
    const store = peer.server.node.store;
    const before = store.syncCount;
    // A slow disk: each group commit starts 30 ms late, so a reply sent before it would be seen.
    const commitPending = store.commitPending.bind(store);
    store.commitPending = () => new Promise((resolve) => setTimeout(resolve, 30)).then(commitPending);
    const blocks = Array.from({ length: 16 }, (_, i) => pattern(4096, 40 + i));
    const acked: number[] = [];
    await Promise.all(blocks.map((b, i) => io.request(SD_OP_WRITE_OBJ, D, dataOidHi(vid), i & 1, 0, 0, 1, 4096 * (1 + (i >> 1)), b, null).then((r) => {
      expect(r).toBe(SD_RES_SUCCESS);
      acked.push(store.syncCount - before); // fdatasyncs completed when this reply arrived
    })));
    expect(Math.min(...acked)).toBeGreaterThan(0);
    expect(store.syncCount - before).toBeLessThan(16); // one per object and pass, not one per write
    store.commitPending = commitPending;
    const got = new Uint8Array(4096);
    for (let i = 0; i < 16; i++) {
      expect(await io.request(SD_OP_READ_OBJ, SD_FLAG_CMD_DIRECT, dataOidHi(vid), i & 1, 0, 0, 1, 4096 * (1 + (i >> 1)), null, got)).toBe(SD_RES_SUCCESS);
      expect(Buffer.compare(Buffer.from(got), Buffer.from(blocks[i]!))).toBe(0);
    }
    await io.close();
  });
});
