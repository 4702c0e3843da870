// Issue 5, proof 1: the exact flags and flushes each cache mode puts on the
// wire (spec 7.3), the guest's WCE toggle, and the INVALID_PARMS fallback.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  SD_OP_CREATE_AND_WRITE_OBJ as CREATE, SD_OP_WRITE_OBJ as WRITE, SD_OP_READ_OBJ as READ, SD_OP_FLUSH_VDI as FLUSH,
  SD_RES_INVALID_PARMS, inodeOidHi, oidToHex, vdiNameHash,
} from '@tsemu/block-sheepdog';
import { startPeer, createVdi, openVdi, objectTraffic, type Peer } from './helpers.js';

const KiB4 = new Uint8Array(4096).fill(0x5a);

let peer: Peer; // sheep 0.5.6 with its object cache
let cacheless: Peer; // sheep 1.0.1: no object cache
let n = 0;

beforeAll(async () => {
  peer = await startPeer({ flavour: '0.5.6' });
  cacheless = await startPeer({ flavour: '1.0.1' });
});
afterAll(async () => {
  await peer.cleanup();
  await cacheless.cleanup();
});

/** A fresh VDI on `p`, opened in `mode`, with the log cleared after open. */
async function fresh(p: Peer, mode: string) {
  const name = `vdi${++n}`;
  await createVdi(p.server, name, 64 << 20);
  p.server.log.clear();
  const bb = await openVdi(p.server, name, mode);
  const openLog = p.server.log.list();
  p.server.log.clear();
  return { bb, name, openLog };
}

/** A guest's two writes (the first allocates), then a guest flush. */
async function twoWritesAndFlush(p: Peer, mode: string) {
  const { bb, openLog } = await fresh(p, mode);
  await bb.write(0, KiB4);
  await bb.write(4096, KiB4);
  await bb.flush();
  const traffic = objectTraffic(p.server.log.list());
  await bb.close();
  return { traffic, openLog };
}

const W = 0x01, CACHE = 0x04, DIRECT = 0x08;

describe('cache modes on the wire (sheep 0.5.6 with object cache)', () => {
  it('writeback: CACHE on every object request; FLUSH_VDI only when the guest flushes', async () => {
    const { traffic, openLog } = await twoWritesAndFlush(peer, 'writeback');
    expect(openLog.find((e) => e.opcode === READ)!.flags).toBe(CACHE); // inode read at open
    expect(traffic).toEqual([
      [CREATE, W | CACHE], // first write: object not allocated
      [WRITE, W | CACHE], // data_vdi_id update of the inode
      [WRITE, W | CACHE], // second write: plain
      [FLUSH, CACHE], // the guest's flush
    ]);
  });

  it('writethrough: same flags as writeback, plus FLUSH_VDI after every write', async () => {
    const { traffic, openLog } = await twoWritesAndFlush(peer, 'writethrough');
    expect(openLog.find((e) => e.opcode === READ)!.flags).toBe(CACHE);
    expect(traffic).toEqual([
      [CREATE, W | CACHE], [WRITE, W | CACHE], [FLUSH, CACHE],
      [WRITE, W | CACHE], [FLUSH, CACHE],
      [FLUSH, CACHE], // the guest's own flush
    ]);
  });

  for (const mode of ['directsync', 'none']) {
    it(`${mode}: DIRECT on every object request; flush is a no-op with no wire traffic`, async () => {
      const { traffic, openLog } = await twoWritesAndFlush(peer, mode);
      expect(openLog.find((e) => e.opcode === READ)!.flags).toBe(DIRECT);
      expect(traffic).toEqual([[CREATE, W | DIRECT], [WRITE, W | DIRECT], [WRITE, W | DIRECT]]);
    });
  }

  it('unsafe: CACHE flags, and flushes never reach the wire', async () => {
    const { traffic } = await twoWritesAndFlush(peer, 'unsafe');
    expect(traffic).toEqual([[CREATE, W | CACHE], [WRITE, W | CACHE], [WRITE, W | CACHE]]);
  });

  it('FLUSH_VDI names the inode oid, carries no payload, and goes over the I/O socket', async () => {
    const { bb, name } = await fresh(peer, 'writeback');
    await bb.write(0, KiB4);
    await bb.flush();
    const log = peer.server.log.list();
    await bb.close();
    const flush = log.find((e) => e.opcode === FLUSH)!;
    const vid = peer.server.node.vdis.current(name)!.vid;
    expect(flush.oid).toBe(oidToHex(inodeOidHi(vid), 0));
    expect(flush.dataLength).toBe(0);
    const ioConn = log.find((e) => e.opcode === CREATE)!.conn;
    expect(log.filter((e) => e.opcode !== FLUSH && e.opcode < 0x10).every((e) => e.conn === ioConn)).toBe(true);
    expect(flush.conn).toBe(ioConn);
    expect(vid).toBe(vdiNameHash(name)); // FNV-1a of the name, no collision here
  });

  it('a guest WCE toggle switches writeback <-> writethrough live; the flags never change', async () => {
    const { bb } = await fresh(peer, 'writeback');
    await bb.write(0, KiB4); // WCE on: no flush
    bb.setWriteCacheEnabled(false);
    expect(bb.writeCacheEnabled).toBe(false);
    await bb.write(4096, KiB4); // WCE off: FLUSH_VDI after the write
    await bb.write(8192, KiB4);
    bb.setWriteCacheEnabled(true);
    await bb.write(12288, KiB4); // back to writeback
    const traffic = objectTraffic(peer.server.log.list());
    await bb.close();
    expect(traffic).toEqual([
      [CREATE, W | CACHE], [WRITE, W | CACHE],
      [WRITE, W | CACHE], [FLUSH, CACHE],
      [WRITE, W | CACHE], [FLUSH, CACHE],
      [WRITE, W | CACHE],
    ]);
  });

  it('with DIRECT a WCE toggle changes nothing on the wire', async () => {
    const { bb } = await fresh(peer, 'none');
    await bb.write(0, KiB4);
    bb.setWriteCacheEnabled(false); // none -> directsync
    await bb.write(4096, KiB4);
    bb.setWriteCacheEnabled(true);
    await bb.write(8192, KiB4);
    const traffic = objectTraffic(peer.server.log.list());
    await bb.close();
    expect(traffic).toEqual([[CREATE, W | DIRECT], [WRITE, W | DIRECT], [WRITE, W | DIRECT], [WRITE, W | DIRECT]]);
  });
});

describe('a daemon without an object cache (sheep 1.0.1)', () => {
  it('INVALID_PARMS to FLUSH_VDI: the flush succeeds and the open switches to DIRECT for good', async () => {
    const { bb } = await fresh(cacheless, 'writeback');
    await bb.write(0, KiB4);
    await bb.flush(); // answered INVALID_PARMS, reported as success
    await bb.write(4096, KiB4);
    await bb.flush(); // now a no-op: no wire traffic
    bb.setWriteCacheEnabled(false);
    await bb.write(8192, KiB4);
    const log = cacheless.server.log.list();
    await bb.close();
    expect(objectTraffic(log)).toEqual([
      [CREATE, W | CACHE], [WRITE, W | CACHE], [FLUSH, CACHE],
      [WRITE, W | DIRECT], [WRITE, W | DIRECT],
    ]);
    expect(log.find((e) => e.opcode === FLUSH)!.result).toBe(SD_RES_INVALID_PARMS);
  });

  it('writethrough becomes DIRECT after the first write\'s flush', async () => {
    const { bb } = await fresh(cacheless, 'writethrough');
    await bb.write(0, KiB4);
    await bb.write(4096, KiB4);
    const traffic = objectTraffic(cacheless.server.log.list());
    await bb.close();
    expect(traffic).toEqual([[CREATE, W | CACHE], [WRITE, W | CACHE], [FLUSH, CACHE], [WRITE, W | DIRECT]]);
  });
});
