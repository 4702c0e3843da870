// Reads of mostly empty objects (issue 5): the peer reads only up to the
// data it knows an object holds and sends the holes after it as zeros from a
// shared buffer; a created object's cache file is made only when something
// needs it. Neither may change a byte of what a client reads, before or
// after FLUSH_VDI, nor after a restart (when the peer knows nothing and
// reads whole files again).
import { describe, it, expect, afterEach } from 'vitest';
import { connect } from 'node:net';
import {
  SheepdogIoConnection, newVdi, encodeObjRequest, replyDataLength, replyResult, SD_OP_READ_OBJ,
  SD_OP_CREATE_AND_WRITE_OBJ, SD_OP_FLUSH_VDI, SD_FLAG_CMD_WRITE, SD_FLAG_CMD_CACHE, SD_FLAG_CMD_DIRECT,
  SD_RES_SUCCESS, SD_DATA_OBJ_SIZE, SD_HEADER_SIZE, SD_INODE_SIZE, SD_INODE_HEADER_SIZE, INODE_VDI_SIZE,
  dataOidHi, inodeOidHi, readCString, readU64,
} from '@tsemu/block-sheepdog';
import { startPeer, restartPeer, pattern, peerAddress as addr, type Peer } from './helpers.js';

let peer: Peer | null = null;

afterEach(async () => {
  await peer?.cleanup();
  peer = null;
});

/** One READ_OBJ on a raw socket: the reply's own data length and bytes, nothing filled in by a client. */
function rawRead(p: Peer, oidHi: number, oidLo: number, offset: number, length: number): Promise<{ result: number; length: number; data: Buffer }> {
  return new Promise((resolve, reject) => {
    const header = Buffer.alloc(SD_HEADER_SIZE);
    encodeObjRequest(header, SD_OP_READ_OBJ, SD_FLAG_CMD_CACHE, 7, length, oidHi, oidLo, 0, 0, 1, offset);
    const s = connect(p.server.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let got = 0;
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      const all = Buffer.concat(chunks);
      if (got >= SD_HEADER_SIZE && got >= SD_HEADER_SIZE + replyDataLength(all)) {
        s.destroy();
        resolve({ result: replyResult(all), length: replyDataLength(all), data: all.subarray(SD_HEADER_SIZE) });
      }
    });
    s.on('error', reject);
    s.write(header);
  });
}

/** `length` zero bytes except `data` at `at`. */
function expected(length: number, at: number, data: Uint8Array): Buffer {
  const out = Buffer.alloc(length);
  out.set(data, at);
  return out;
}

describe('sparse reads', () => {
  it('sends a fresh inode whole: the header, then zeros (also after a restart)', async () => {
    peer = await startPeer({ flavour: '0.5.6', sync: true });
    const vid = await newVdi(addr(peer), 'sparse1', 96 << 20, 0, false);
    for (let round = 0; round < 2; round++) {
      const r = await rawRead(peer, inodeOidHi(vid), 0, 0, SD_INODE_SIZE);
      expect(r.result).toBe(SD_RES_SUCCESS);
      expect(r.length).toBe(SD_INODE_SIZE);
      expect(r.data.length).toBe(SD_INODE_SIZE);
      expect(readCString(r.data, 0, 256)).toBe('sparse1');
      expect(readU64(r.data, INODE_VDI_SIZE)).toBe(96 << 20);
      expect(r.data.subarray(SD_INODE_HEADER_SIZE).every((b) => b === 0)).toBe(true);
      // A read that starts past the header is all zeros, at its full length.
      const tail = await rawRead(peer, inodeOidHi(vid), 0, SD_INODE_SIZE - 8192, 8192);
      expect(tail.length).toBe(8192);
      expect(tail.data.every((b) => b === 0)).toBe(true);
      peer = await restartPeer(peer); // round 2: the peer no longer knows where the data ends
    }
  });

  it('reads small writes back exactly from the cache, the store and after a restart', async () => {
    peer = await startPeer({ flavour: '0.5.6', sync: true });
    const vid = await newVdi(addr(peer), 'sparse2', 64 << 20, 0, false);
    const io = await SheepdogIoConnection.open(addr(peer));
    const a = pattern(4096, 11);
    const b = pattern(12288, 12);
    // Object 0 straight to the store (DIRECT); object 1 created in the cache with small writes only.
    expect(await io.request(SD_OP_CREATE_AND_WRITE_OBJ, SD_FLAG_CMD_WRITE | SD_FLAG_CMD_DIRECT, dataOidHi(vid), 0, 0, 0, 1, 1 << 20, a, null)).toBe(SD_RES_SUCCESS);
    expect(await io.request(SD_OP_CREATE_AND_WRITE_OBJ, SD_FLAG_CMD_WRITE | SD_FLAG_CMD_CACHE, dataOidHi(vid), 1, 0, 0, 1, 3 << 20, b, null)).toBe(SD_RES_SUCCESS);
    const want0 = expected(SD_DATA_OBJ_SIZE, 1 << 20, a);
    const want1 = expected(SD_DATA_OBJ_SIZE, 3 << 20, b);
    const check = async (): Promise<void> => {
      for (const [lo, want] of [[0, want0], [1, want1]] as const) {
        const whole = await rawRead(peer!, dataOidHi(vid), lo, 0, SD_DATA_OBJ_SIZE);
        expect(whole.length).toBe(SD_DATA_OBJ_SIZE);
        expect(Buffer.compare(whole.data, want), `object ${lo}`).toBe(0);
        // Reads across the end of the data, and past it.
        const across = await rawRead(peer!, dataOidHi(vid), lo, (3 << 20) + 8192, 16384);
        expect(Buffer.compare(across.data, want.subarray((3 << 20) + 8192, (3 << 20) + 24576))).toBe(0);
      }
    };
    await check(); // object 1 only in memory: its cache file does not exist yet
    expect(peer.server.node.cache.dirtyCount).toBeGreaterThan(0);
    expect(await io.request(SD_OP_FLUSH_VDI, SD_FLAG_CMD_CACHE, inodeOidHi(vid), 0, 0, 0, 0, 0, null, null)).toBe(SD_RES_SUCCESS);
    await io.close();
    expect(peer.server.node.cache.dirtyCount).toBe(0);
    await check(); // from the store, which now knows where each object's data ends
    expect(await peer.server.loseCache()).toBe(0);
    peer = await restartPeer(peer);
    await check(); // after a restart: whole files read again
  });
});
