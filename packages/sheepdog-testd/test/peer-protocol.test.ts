// The test peer answers as sheep 0.5.6 / 1.0.1 do (spec section 10), checked
// with raw requests, plus its own switches: lose the cache, restart, log.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connect } from 'node:net';
import {
  shortRequest, encodeObjRequest, encodeVdiRequest, encodeVdiNamePayload, newVdi, findVdi, readObject, readVdiBitmap, deleteVdi,
  SD_HEADER_SIZE, SD_OP_CREATE_AND_WRITE_OBJ, SD_OP_WRITE_OBJ, SD_OP_READ_OBJ, SD_OP_FLUSH_VDI, SD_OP_LOCK_VDI, SD_OP_NEW_VDI,
  SD_FLAG_CMD_WRITE, SD_FLAG_CMD_CACHE, SD_FLAG_CMD_DIRECT, SD_FLAG_CMD_COW, SD_RES_SUCCESS, SD_RES_INVALID_PARMS,
  SD_RES_VER_MISMATCH, SD_RES_READONLY, SD_RES_NO_OBJ, SD_RES_VDI_EXIST, SD_INODE_SIZE, SD_DATA_OBJ_SIZE,
  inodeOidHi, dataOidHi, decodeInodeHeader, vdiNameHash, type SheepdogAddress,
} from '@tsemu/block-sheepdog';
import { startPeer, restartPeer, type Peer } from './helpers.js';

let peer: Peer; // 0.5.6
let v101: Peer; // 1.0.1
const at = (p: Peer): SheepdogAddress => ({ host: '127.0.0.1', port: p.server.port });

beforeAll(async () => {
  peer = await startPeer({ flavour: '0.5.6' });
  v101 = await startPeer({ flavour: '1.0.1' });
});
afterAll(async () => {
  await peer.cleanup();
  await v101.cleanup();
});

/** One object request on a short-lived socket; returns the result and the data. */
async function obj(p: Peer, opcode: number, flags: number, hi: number, lo: number, offset: number, send: Uint8Array | null, recvLen = 0, cow?: [number, number]) {
  const h = Buffer.alloc(SD_HEADER_SIZE);
  const recv = recvLen ? new Uint8Array(recvLen) : null;
  encodeObjRequest(h, opcode, flags, 1, send ? send.length : recvLen, hi, lo, cow?.[0] ?? 0, cow?.[1] ?? 0, 0, offset);
  const r = await shortRequest(at(p), h, send, recv);
  return { result: r.result, data: recv };
}

describe('VDI operations', () => {
  it('allocates vids by FNV-1a of the name, then linearly', async () => {
    const vid = await newVdi(at(peer), 'wt2', 1 << 30, 0, false);
    expect(vid).toBe(0x411d9c);
    expect(await newVdi(at(peer), 'wt2', 1 << 30, vid, true)).toBe(0x411d9d); // its next version
    expect(await newVdi(at(peer), 'test1', 1 << 20, 0, false)).toBe(0xfd32fc);
    const bitmap = await readVdiBitmap(at(peer));
    for (const v of [0x411d9c, 0x411d9d, 0xfd32fc]) expect(bitmap[v >>> 3]! & (1 << (v & 7))).not.toBe(0);
    expect(bitmap.length).toBe(2 << 20);
  });

  it('answers VDI_EXIST, NO_VDI and NO_TAG', async () => {
    await newVdi(at(peer), 'dup', 1 << 20, 0, false);
    await expect(newVdi(at(peer), 'dup', 1 << 20, 0, false)).rejects.toMatchObject({ result: SD_RES_VDI_EXIST });
    await expect(findVdi(at(peer), 'nope', 0, '', true)).rejects.toMatchObject({ code: 'ENOENT', result: 0x08 });
    await expect(findVdi(at(peer), 'dup', 0, 'notag', false)).rejects.toMatchObject({ code: 'EIO', result: 0x0e });
  });

  it('serves the whole inode with the spec offsets', async () => {
    const vid = await newVdi(at(peer), 'layout', 5 << 20, 0, false);
    const inode = new Uint8Array(SD_INODE_SIZE);
    await readObject(at(peer), inodeOidHi(vid), 0, 0, 0, inode, SD_FLAG_CMD_CACHE);
    const h = decodeInodeHeader(Buffer.from(inode.buffer));
    expect(h).toMatchObject({ name: 'layout', vdiSize: 5 << 20, snapId: 1, vdiId: vid, parentVdiId: 0, snapCtime: 0, blockSizeShift: 22 });
    expect(h.ctime).toBeGreaterThan(0);
  });

  it('checks proto_ver and opcodes, and the LOCK payload size', async () => {
    const h = Buffer.alloc(SD_HEADER_SIZE);
    const name = encodeVdiNamePayload('wt2');
    encodeVdiRequest(h, 9, SD_OP_LOCK_VDI, SD_FLAG_CMD_WRITE, 1, name.length, 0, 0, 0, 0);
    expect((await shortRequest(at(peer), h, name, null)).result).toBe(SD_RES_VER_MISMATCH);
    encodeVdiRequest(h, 1, SD_OP_LOCK_VDI, SD_FLAG_CMD_WRITE, 1, 100, 0, 0, 0, 0);
    expect((await shortRequest(at(peer), h, new Uint8Array(100), null)).result).toBe(SD_RES_INVALID_PARMS);
    encodeVdiRequest(h, 0, 0x42, 0, 1, 0, 0, 0, 0, 0);
    expect((await shortRequest(at(peer), h, null, null)).result).toBe(SD_RES_INVALID_PARMS);
    encodeVdiRequest(h, 1, SD_OP_LOCK_VDI, SD_FLAG_CMD_WRITE, 1, name.length, 0, 0, 0, 0);
    expect((await shortRequest(at(peer), h, name, null)).result).toBe(SD_RES_SUCCESS); // proto_ver 1, 256-byte name
  });

  it('FLUSH_VDI: SUCCESS with the object cache (0.5.6), INVALID_PARMS without (1.0.1)', async () => {
    const a = await newVdi(at(peer), 'fl', 1 << 20, 0, false);
    const b = await newVdi(at(v101), 'fl', 1 << 20, 0, false);
    expect((await obj(peer, SD_OP_FLUSH_VDI, SD_FLAG_CMD_CACHE, inodeOidHi(a), 0, 0, null)).result).toBe(SD_RES_SUCCESS);
    expect((await obj(v101, SD_OP_FLUSH_VDI, SD_FLAG_CMD_CACHE, inodeOidHi(b), 0, 0, null)).result).toBe(SD_RES_INVALID_PARMS);
  });

  it('DEL_VDI: supported by 1.0.1, INVALID_PARMS on 0.5.6', async () => {
    await newVdi(at(v101), 'gone', 1 << 20, 0, false);
    expect(await deleteVdi(at(v101), 'gone', 0, '')).toBe(SD_RES_SUCCESS);
    await expect(findVdi(at(v101), 'gone', 0, '', false)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await newVdi(at(v101), 'gone', 1 << 20, 0, false)).toBe(vdiNameHash('gone') + 1); // the old bit stays set
    await newVdi(at(peer), 'gone', 1 << 20, 0, false);
    expect(await deleteVdi(at(peer), 'gone', 0, '')).toBe(SD_RES_INVALID_PARMS);
  });
});

describe('objects, snapshots and the object cache', () => {
  it('snapshot then COW create: base bytes + write in the new object, snapshot object unchanged', async () => {
    for (const p of [peer, v101]) {
      const vid = await newVdi(at(p), 'cow', 8 << 20, 0, false);
      const base = new Uint8Array(4096).fill(0x11);
      expect((await obj(p, SD_OP_CREATE_AND_WRITE_OBJ, SD_FLAG_CMD_WRITE | SD_FLAG_CMD_DIRECT, dataOidHi(vid), 0, 0, base)).result).toBe(0);
      const next = await newVdi(at(p), 'cow', 8 << 20, vid, true);
      const w = new Uint8Array(16).fill(0x22);
      const r = await obj(p, SD_OP_CREATE_AND_WRITE_OBJ, SD_FLAG_CMD_WRITE | SD_FLAG_CMD_COW | SD_FLAG_CMD_CACHE, dataOidHi(next), 0, 8, w, 0, [dataOidHi(vid), 0]);
      expect(r.result).toBe(0);
      const mine = (await obj(p, SD_OP_READ_OBJ, SD_FLAG_CMD_CACHE, dataOidHi(next), 0, 0, null, 64)).data!;
      expect([...mine.subarray(0, 8)]).toEqual(Array(8).fill(0x11));
      expect([...mine.subarray(8, 24)]).toEqual(Array(16).fill(0x22));
      expect([...mine.subarray(24, 32)]).toEqual(Array(8).fill(0x11));
      const theirs = (await obj(p, SD_OP_READ_OBJ, SD_FLAG_CMD_CACHE, dataOidHi(vid), 0, 0, null, 64)).data!;
      expect(theirs.every((b) => b === 0x11)).toBe(true);
      // 1.0.1 refuses a plain write to a snapshot's object; 0.5.6 lets it through.
      const plain = await obj(p, SD_OP_WRITE_OBJ, SD_FLAG_CMD_WRITE | SD_FLAG_CMD_CACHE, dataOidHi(vid), 0, 0, w);
      expect(plain.result).toBe(p === v101 ? SD_RES_READONLY : SD_RES_SUCCESS);
    }
  });

  it('CACHE writes stay dirty until FLUSH_VDI; losing the cache drops them', async () => {
    const vid = await newVdi(at(peer), 'dirty', 8 << 20, 0, false);
    const write = (fill: number, flags: number, op = SD_OP_WRITE_OBJ) => obj(peer, op, SD_FLAG_CMD_WRITE | flags, dataOidHi(vid), 0, 0, new Uint8Array(4).fill(fill));
    await write(1, SD_FLAG_CMD_CACHE, SD_OP_CREATE_AND_WRITE_OBJ);
    expect(await peer.server.node.store.exists(dataOidHi(vid), 0)).toBe(false); // only in the cache
    await obj(peer, SD_OP_FLUSH_VDI, SD_FLAG_CMD_CACHE, inodeOidHi(vid), 0, 0, null);
    expect((await peer.server.node.store.read(dataOidHi(vid), 0, 0, 4))![0]).toBe(1);
    await write(2, SD_FLAG_CMD_CACHE);
    expect(await peer.server.loseCache()).toBeGreaterThanOrEqual(1);
    expect((await obj(peer, SD_OP_READ_OBJ, SD_FLAG_CMD_CACHE, dataOidHi(vid), 0, 0, null, 4)).data![0]).toBe(1);
  });

  it('a DIRECT write first flushes and drops the VDI\'s cached objects (0.5.6)', async () => {
    const vid = await newVdi(at(peer), 'direct', 8 << 20, 0, false);
    await obj(peer, SD_OP_CREATE_AND_WRITE_OBJ, SD_FLAG_CMD_WRITE | SD_FLAG_CMD_CACHE, dataOidHi(vid), 0, 0, new Uint8Array(4).fill(5));
    await obj(peer, SD_OP_CREATE_AND_WRITE_OBJ, SD_FLAG_CMD_WRITE | SD_FLAG_CMD_DIRECT, dataOidHi(vid), 1, 0, new Uint8Array(4).fill(6));
    expect(peer.server.node.cache.get(dataOidHi(vid), 0)).toBeUndefined();
    expect((await peer.server.node.store.read(dataOidHi(vid), 0, 0, 4))![0]).toBe(5);
    expect(await peer.server.loseCache()).toBe(0);
  });

  it('a plain write to a missing object is NO_OBJ; double creates are counted', async () => {
    const vid = await newVdi(at(peer), 'noobj', 8 << 20, 0, false);
    expect((await obj(peer, SD_OP_WRITE_OBJ, SD_FLAG_CMD_WRITE | SD_FLAG_CMD_CACHE, dataOidHi(vid), 3, 0, new Uint8Array(1))).result).toBe(SD_RES_NO_OBJ);
    expect((await obj(peer, SD_OP_READ_OBJ, SD_FLAG_CMD_CACHE, dataOidHi(vid), 3, 0, null, 8)).result).toBe(SD_RES_NO_OBJ);
    const before = peer.server.node.doubleCreates;
    for (let i = 0; i < 2; i++) await obj(peer, SD_OP_CREATE_AND_WRITE_OBJ, SD_FLAG_CMD_WRITE | SD_FLAG_CMD_CACHE, dataOidHi(vid), 4, 0, new Uint8Array(1));
    expect(peer.server.node.doubleCreates).toBe(before + 1);
    expect((await obj(peer, SD_OP_READ_OBJ, SD_FLAG_CMD_CACHE, dataOidHi(vid), 4, SD_DATA_OBJ_SIZE - 8, null, 16)).result).toBe(SD_RES_INVALID_PARMS);
  });
});

describe('the object cache at scale', () => {
  it('keeps objects created in the cache in sparse files (more than it holds open), flushes them by rename', async () => {
    const vid = await newVdi(at(peer), 'many', 200 * SD_DATA_OBJ_SIZE, 0, false);
    const N = 150; // above the cache's 128 open files
    for (let i = 0; i < N; i++) {
      const r = await obj(peer, SD_OP_CREATE_AND_WRITE_OBJ, SD_FLAG_CMD_WRITE | SD_FLAG_CMD_CACHE, dataOidHi(vid), i, 4096 * (i % 7), new Uint8Array(8).fill(i & 0xff));
      expect(r.result).toBe(SD_RES_SUCCESS);
    }
    expect(peer.server.node.store.exists(dataOidHi(vid), 0)).toBe(false);
    for (const i of [0, 77, N - 1]) {
      const r = await obj(peer, SD_OP_READ_OBJ, SD_FLAG_CMD_CACHE, dataOidHi(vid), i, 4096 * (i % 7), null, 9);
      expect([...r.data!]).toEqual([...new Array(8).fill(i & 0xff), 0]);
    }
    await obj(peer, SD_OP_FLUSH_VDI, SD_FLAG_CMD_CACHE, inodeOidHi(vid), 0, 0, null);
    expect(peer.server.node.cache.get(dataOidHi(vid), N - 1)).toBeUndefined();
    for (const i of [0, 1, 130, N - 1]) {
      const got = peer.server.node.store.read(dataOidHi(vid), i, 4096 * (i % 7), 9)!;
      expect([...got]).toEqual([...new Array(8).fill(i & 0xff), 0]);
    }
  });
});

describe('hostile requests and restarts', () => {
  it('refuses an oversized write payload by closing the connection, without buffering it', async () => {
    const h = Buffer.alloc(SD_HEADER_SIZE);
    encodeObjRequest(h, SD_OP_WRITE_OBJ, SD_FLAG_CMD_WRITE, 1, 0xfffffff0, 1, 0, 0, 0, 0, 0);
    const closed = await new Promise<boolean>((resolve) => {
      const s = connect(peer.server.port, '127.0.0.1', () => {
        // Split the header to exercise partial reads.
        s.write(h.subarray(0, 7));
        setTimeout(() => s.write(h.subarray(7)), 10);
      });
      s.on('close', () => resolve(true));
      s.on('error', () => {});
    });
    expect(closed).toBe(true);
    expect(peer.server.protocolErrors.at(-1)).toMatch(/refused/);
  });

  it('stops reading a client that floods requests and never reads replies (bounded memory)', async () => {
    const p = await startPeer();
    try {
      const vid = await newVdi(at(p), 'flood', 8 << 20, 0, false);
      await obj(p, SD_OP_CREATE_AND_WRITE_OBJ, SD_FLAG_CMD_WRITE | SD_FLAG_CMD_DIRECT, dataOidHi(vid), 0, 0, new Uint8Array(1));
      p.server.log.clear();
      const requests = Buffer.alloc(SD_HEADER_SIZE * 1000);
      for (let i = 0; i < 1000; i++) {
        encodeObjRequest(requests.subarray(i * SD_HEADER_SIZE), SD_OP_READ_OBJ, SD_FLAG_CMD_DIRECT, i, SD_DATA_OBJ_SIZE, dataOidHi(vid), 0, 0, 0, 0, 0);
      }
      const s = connect(p.server.port, '127.0.0.1');
      s.pause(); // never read
      s.write(requests);
      await new Promise((r) => setTimeout(r, 400));
      // 1000 x 4 MiB would be 4 GiB of replies; the peer stopped answering after a few.
      expect(p.server.log.list().filter((e) => e.result !== undefined).length).toBeLessThan(50);
      s.destroy();
    } finally {
      await p.cleanup();
    }
  });

  it('a read asking for more than an inode is INVALID_PARMS', async () => {
    const r = await obj(peer, SD_OP_READ_OBJ, SD_FLAG_CMD_CACHE, 1, 0, 0, null, 0);
    expect(r.result).toBe(SD_RES_NO_OBJ);
    const h = Buffer.alloc(SD_HEADER_SIZE);
    encodeObjRequest(h, SD_OP_READ_OBJ, 0, 1, 0x7fffffff, 1, 0, 0, 0, 0, 0);
    expect((await shortRequest(at(peer), h, null, null)).result).toBe(SD_RES_INVALID_PARMS);
  });

  it('keeps VDIs and flushed objects across a restart; the unflushed cache dies with a crash', async () => {
    const p = await startPeer({ flavour: '0.5.6' });
    const vid = await newVdi(at(p), 'persist', 8 << 20, 0, false);
    await obj(p, SD_OP_CREATE_AND_WRITE_OBJ, SD_FLAG_CMD_WRITE | SD_FLAG_CMD_CACHE, dataOidHi(vid), 0, 0, new Uint8Array(4).fill(9));
    const q = await restartPeer(p, { crash: true });
    try {
      expect(await findVdi(at(q), 'persist', 0, '', true)).toBe(vid);
      expect((await obj(q, SD_OP_READ_OBJ, SD_FLAG_CMD_CACHE, dataOidHi(vid), 0, 0, null, 4)).result).toBe(SD_RES_NO_OBJ);
      expect(q.server.log.list()[0]!.opcode).toBe(SD_OP_LOCK_VDI);
      expect(SD_OP_NEW_VDI).toBe(0x11);
    } finally {
      await q.server.close();
      await p.cleanup();
    }
  });
});
