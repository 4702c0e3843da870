// The client I/O algorithm (spec section 6) against the peer: splitting at
// 4 MiB objects, zero-fill without wire I/O, serialised creates, the inode
// update before completion, out-of-order replies, COW after a snapshot,
// branching from an opened snapshot, errors, create and resize.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createImage, openImage } from '@tsemu/block-core';
import {
  SD_OP_CREATE_AND_WRITE_OBJ as CREATE, SD_OP_WRITE_OBJ as WRITE, SD_OP_NEW_VDI, SD_OP_RELEASE_VDI,
  SD_FLAG_CMD_COW as COW, SD_FLAG_CMD_CACHE, INODE_DATA_VDI_ID, inodeOidHi, dataOidHi, oidToHex, newVdi, readObject,
} from '@tsemu/block-sheepdog';
import { startPeer, createVdi, openVdi, pattern, objectTraffic, type Peer } from './helpers.js';

const MiB = 1 << 20;
let peer: Peer;
let n = 0;
const addr = () => ({ host: '127.0.0.1', port: peer.server.port });

beforeAll(async () => {
  peer = await startPeer({ flavour: '0.5.6' });
});
afterAll(async () => {
  await peer.cleanup();
});

async function freshVdi(size = 32 * MiB): Promise<string> {
  const name = `io${++n}`;
  await createVdi(peer.server, name, size);
  return name;
}

describe('reads and writes', () => {
  it('splits at 4 MiB objects, records all allocations in ONE inode write, and reads back', async () => {
    const name = await freshVdi();
    const bb = await openVdi(peer.server, name, 'writeback');
    peer.server.log.clear();
    const data = pattern(9 * MiB, 11);
    await bb.write(3 * MiB, data); // objects 0..2
    const log = peer.server.log.list();
    const vid = peer.server.node.vdis.current(name)!.vid;
    const creates = log.filter((e) => e.opcode === CREATE);
    expect(creates.map((e) => [e.oid, e.offset, e.dataLength])).toEqual([
      [oidToHex(dataOidHi(vid), 0), 3 * MiB, 1 * MiB], // 3..4 MiB
      [oidToHex(dataOidHi(vid), 1), 0, 4 * MiB],
      [oidToHex(dataOidHi(vid), 2), 0, 4 * MiB], // ends exactly at 12 MiB
    ]);
    const inodeWrites = log.filter((e) => e.opcode === WRITE && e.oid === oidToHex(inodeOidHi(vid), 0));
    expect(inodeWrites.map((e) => [e.offset, e.dataLength])).toEqual([[INODE_DATA_VDI_ID, 12]]);
    const back = new Uint8Array(data.length);
    await bb.read(3 * MiB, back);
    expect(Buffer.compare(back, data)).toBe(0);
    await bb.close();
  });

  it('reads unallocated ranges as zeros without any wire I/O', async () => {
    const name = await freshVdi();
    const bb = await openVdi(peer.server, name, 'writeback');
    await bb.write(0, new Uint8Array(512).fill(7));
    peer.server.log.clear();
    const buf = new Uint8Array(8 * MiB).fill(0xff);
    await bb.read(4 * MiB, buf); // objects 1 and 2: never written
    expect(buf.every((b) => b === 0)).toBe(true);
    expect(objectTraffic(peer.server.log.list())).toEqual([]);
    await bb.close();
  });

  it('the guest write completes only after data_vdi_id reached the daemon', async () => {
    const name = await freshVdi();
    const bb = await openVdi(peer.server, name, 'writeback');
    await bb.write(5 * MiB, new Uint8Array(4096).fill(1)); // object 1
    const vid = peer.server.node.vdis.current(name)!.vid;
    const entry = new Uint8Array(4);
    await readObject(addr(), inodeOidHi(vid), 0, 0, INODE_DATA_VDI_ID + 4, entry, SD_FLAG_CMD_CACHE);
    expect(Buffer.from(entry).readUInt32LE(0)).toBe(vid);
    await bb.close();
  });

  it('serialises creates of one object: one CREATE, the others wait and become plain writes', async () => {
    const name = await freshVdi();
    const bb = await openVdi(peer.server, name, 'writeback');
    peer.server.log.clear();
    const resume = peer.server.pause(); // hold the daemon so everything is in flight at once
    const writes = [0, 1, 2, 3].map((i) => bb.write(i * 65536, new Uint8Array(65536).fill(i + 1)));
    await new Promise((r) => setTimeout(r, 50));
    resume();
    await Promise.all(writes);
    const traffic = objectTraffic(peer.server.log.list()).filter(([op]) => op === CREATE || op === WRITE);
    expect(traffic.filter(([op]) => op === CREATE)).toHaveLength(1);
    expect(peer.server.node.doubleCreates).toBe(0);
    const back = new Uint8Array(4 * 65536);
    await bb.read(0, back);
    for (let i = 0; i < 4; i++) expect(back[i * 65536]).toBe(i + 1);
    await bb.close();
  });

  it('matches out-of-order replies (seeded reply jitter on the peer)', async () => {
    const seed = Number(process.env.SD_SEED ?? Date.now() % 1e9);
    console.log(`reply jitter seed=${seed}`);
    const jittery = await startPeer({ replyJitterMs: 8, seed });
    try {
      await createVdi(jittery.server, 'ooo', 32 * MiB);
      const bb = await openVdi(jittery.server, 'ooo', 'writeback');
      const chunks = Array.from({ length: 24 }, (_, i) => pattern(32 * 1024, seed + i));
      await Promise.all(chunks.map((c, i) => bb.write(i * 1.25 * MiB, c)));
      const backs = chunks.map((c) => new Uint8Array(c.length));
      await Promise.all(backs.map((b, i) => bb.read(i * 1.25 * MiB, b)));
      backs.forEach((b, i) => expect(Buffer.compare(b, chunks[i]!), `chunk ${i}`).toBe(0));
      await bb.close();
    } finally {
      await jittery.cleanup();
    }
  });
});

describe('snapshots and copy-on-write', () => {
  it('a write after a snapshot is a COW create; the snapshot keeps its data', async () => {
    const name = await freshVdi();
    const base = pattern(8 * MiB, 21);
    let bb = await openVdi(peer.server, name, 'writeback');
    await bb.write(0, base);
    await bb.close();
    const oldVid = peer.server.node.vdis.current(name)!.vid;
    // What QEMU's snapshot create does after writing the header: NEW_VDI(name, base = current, snapid = 1).
    const newVid = await newVdi(addr(), name, 32 * MiB, oldVid, true);
    expect(newVid).toBe(oldVid + 1); // the next free vid after the name's hash

    for (const mode of ['writeback', 'directsync'] as const) {
      bb = await openVdi(peer.server, name, mode);
      peer.server.log.clear();
      const at = mode === 'writeback' ? 1000 : 4 * MiB + 1000; // object 0, then object 1
      await bb.write(at, new Uint8Array(100).fill(0xee));
      const create = peer.server.log.list().find((e) => e.opcode === CREATE)!;
      const idx = mode === 'writeback' ? 0 : 1;
      expect(create.flags).toBe(mode === 'writeback' ? 0x07 : 0x0b); // WRITE|COW|CACHE, WRITE|COW|DIRECT
      expect(create.flags & COW).toBe(COW);
      expect(create.oid).toBe(oidToHex(dataOidHi(newVid), idx));
      expect(create.cowOid).toBe(oidToHex(dataOidHi(oldVid), idx));
      const obj = new Uint8Array(4 * MiB);
      await bb.read(idx * 4 * MiB, obj);
      const expected = Buffer.from(base.subarray(idx * 4 * MiB, (idx + 1) * 4 * MiB));
      expected.fill(0xee, 1000, 1100);
      expect(Buffer.compare(obj, expected)).toBe(0);
      await bb.close();
    }
    // The snapshot (snap id 1) still reads the original bytes.
    const snap = await openImage({ filename: `${peer.server.uri(name)}#1`, format: 'raw', readOnly: true });
    const back = new Uint8Array(8 * MiB);
    await snap.read(0, back);
    expect(Buffer.compare(back, base)).toBe(0);
    await snap.close();
  });

  it('writing to an opened snapshot branches off a new VDI on the first write', async () => {
    const name = await freshVdi();
    let bb = await openVdi(peer.server, name, 'writeback');
    await bb.write(0, new Uint8Array(4096).fill(3));
    await bb.close();
    const vid = peer.server.node.vdis.current(name)!.vid;
    await newVdi(addr(), name, 32 * MiB, vid, true); // vid is now snapshot 1
    peer.server.log.clear();
    bb = await openImage({ filename: `${peer.server.uri(name)}#1`, format: 'raw', cache: 'writeback' });
    await bb.write(0, new Uint8Array(10).fill(9));
    const log = peer.server.log.list();
    const branch = log.find((e) => e.opcode === SD_OP_NEW_VDI)!;
    expect([branch.baseVdiId, branch.snapId]).toEqual([vid, 1]);
    const create = log.find((e) => e.opcode === CREATE)!;
    expect(create.flags & COW).toBe(COW);
    expect(create.cowOid).toBe(oidToHex(dataOidHi(vid), 0));
    await bb.close();
    expect(peer.server.log.list().some((e) => e.opcode === SD_OP_RELEASE_VDI)).toBe(true);
    const snap = await openImage({ filename: `${peer.server.uri(name)}#1`, format: 'raw', readOnly: true });
    const b = new Uint8Array(4096);
    await snap.read(0, b);
    expect(b.every((x) => x === 3)).toBe(true);
    await snap.close();
  });
});

describe('errors', () => {
  it('an unknown VDI is ENOENT with the daemon\'s message', async () => {
    await expect(openVdi(peer.server, 'no-such-vdi', 'writeback')).rejects.toMatchObject({
      code: 'ENOENT', message: expect.stringContaining('No vdi found'),
    });
  });

  it('an unknown tag is EIO with the daemon\'s message', async () => {
    const name = await freshVdi();
    await expect(openImage({ filename: `${peer.server.uri(name)}#nosuchtag`, format: 'raw' })).rejects.toMatchObject({
      code: 'EIO', message: expect.stringContaining('Requested tag is not found'),
    });
  });

  it('a refused connection is EIO', async () => {
    await expect(openImage({ filename: 'sheepdog://127.0.0.1:1/x', format: 'raw' })).rejects.toMatchObject({ code: 'EIO' });
  });

  it('1.0.1 locks the VDI: a second open fails until the first closes', async () => {
    const p = await startPeer({ flavour: '1.0.1' });
    try {
      await createVdi(p.server, 'locked', 8 * MiB);
      const a = await openVdi(p.server, 'locked', 'writeback');
      await expect(openVdi(p.server, 'locked', 'writeback')).rejects.toMatchObject({ code: 'EIO', message: expect.stringContaining('VDI is already locked') });
      await a.close();
      const b = await openVdi(p.server, 'locked', 'writeback');
      await b.close();
    } finally {
      await p.cleanup();
    }
  });
});

describe('create, resize, transports', () => {
  it('creates through createImage, rejects a duplicate and sizes over 4 TiB', async () => {
    const uri = peer.server.uri('made');
    await createImage({ filename: uri, format: 'raw', size: 16 * MiB });
    const bb = await openImage({ filename: uri, format: 'raw' });
    expect(await bb.getLength()).toBe(16 * MiB);
    await bb.close();
    await expect(createImage({ filename: uri, format: 'raw', size: MiB })).rejects.toMatchObject({ code: 'EIO', message: expect.stringContaining('VDI exists already') });
    await expect(createImage({ filename: peer.server.uri('huge'), format: 'raw', size: 4 * 2 ** 40 + 512 })).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('preallocation=full writes every object', async () => {
    const uri = peer.server.uri('prealloc');
    await createImage({ filename: uri, format: 'sheepdog', size: 10 * MiB, options: { preallocation: 'full' } });
    const bb = await openImage({ filename: uri, format: 'raw' });
    expect(await bb.allocatedFileSize()).toBe(12 * MiB);
    await bb.close();
  });

  it('grows, refuses to shrink', async () => {
    const name = await freshVdi(8 * MiB);
    const bb = await openVdi(peer.server, name, 'writeback');
    await bb.truncate(20 * MiB);
    expect(await bb.getLength()).toBe(20 * MiB);
    await expect(bb.truncate(4 * MiB)).rejects.toMatchObject({ code: 'EINVAL' });
    await bb.close();
    const again = await openVdi(peer.server, name, 'writeback');
    expect(await again.getLength()).toBe(20 * MiB);
    await again.close();
  });

  it('opens with --image-opts keys (driver=sheepdog,vdi=...,server.*)', async () => {
    const name = await freshVdi(8 * MiB);
    const spec = `driver=sheepdog,vdi=${name},server.host=127.0.0.1,server.port=${peer.server.port},cache.direct=on`;
    peer.server.log.clear();
    const bb = await openImage({ filename: spec, imageOpts: true });
    expect(await bb.getLength()).toBe(8 * MiB);
    await bb.write(0, new Uint8Array(512).fill(1));
    expect(peer.server.log.list().find((e) => e.opcode === CREATE)!.flags).toBe(0x09); // cache.direct=on -> DIRECT
    await bb.close();
    await expect(openImage({ filename: `${spec},bogus=1`, imageOpts: true })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining("bogus") });
  });

  it('works over a unix socket', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'tsemu-sheepd-unix-'));
    const p = await startPeer({ socketPath: join(dir, 'sock') });
    try {
      await newVdi({ path: join(dir, 'sock') }, 'u', 8 * MiB, 0, false);
      const bb = await openImage({ filename: p.server.uri('u'), format: 'raw' });
      await bb.write(0, new Uint8Array(512).fill(4));
      const b = new Uint8Array(512);
      await bb.read(0, b);
      expect(b[511]).toBe(4);
      await bb.close();
    } finally {
      await p.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
