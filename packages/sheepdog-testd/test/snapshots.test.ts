// Internal snapshots as QEMU 1.4 takes them: header write + NEW_VDI(snapid 1),
// list by walking the in-use bitmap from the name's hash, goto, delete; COW
// after a snapshot leaves the snapshot's data intact.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { openImage } from '@tsemu/block-core';
import {
  SD_OP_WRITE_OBJ, SD_OP_NEW_VDI, SD_OP_READ_OBJ, SD_OP_CREATE_AND_WRITE_OBJ, SD_OP_READ_VDIS, SD_INODE_HEADER_SIZE,
  inodeOidHi, oidToHex,
} from '@tsemu/block-sheepdog';
import { startPeer, createVdi, openVdi, imageOf, pattern, type Peer } from './helpers.js';

const MiB = 1 << 20;
let peer: Peer;
let v101: Peer;

beforeAll(async () => {
  peer = await startPeer({ flavour: '0.5.6' });
  v101 = await startPeer({ flavour: '1.0.1' });
});
afterAll(async () => {
  await peer.cleanup();
  await v101.cleanup();
});

async function readAt(uri: string, offset: number, length: number): Promise<Uint8Array> {
  const bb = await openImage({ filename: uri, format: 'raw', readOnly: true });
  const buf = new Uint8Array(length);
  await bb.read(offset, buf);
  await bb.close();
  return buf;
}

describe('snapshots', () => {
  it('create: header write, NEW_VDI(base, snapid 1), new header read; later writes COW', async () => {
    await createVdi(peer.server, 'snap', 16 * MiB);
    const bb = await openVdi(peer.server, 'snap', 'writeback');
    const a = pattern(6 * MiB, 1);
    await bb.write(0, a);
    const img = imageOf(bb);
    const oldVid = img.vid;
    peer.server.log.clear();
    await img.snapshotCreate('first');
    const log = peer.server.log.list();
    expect(log.map((e) => e.opcode)).toEqual([SD_OP_WRITE_OBJ, SD_OP_NEW_VDI, SD_OP_READ_OBJ]);
    expect([log[0]!.oid, log[0]!.offset, log[0]!.dataLength, log[0]!.flags]).toEqual([oidToHex(inodeOidHi(oldVid), 0), 0, SD_INODE_HEADER_SIZE, 0x05]);
    expect([log[1]!.baseVdiId, log[1]!.snapId]).toEqual([oldVid, 1]);
    expect(img.vid).toBe(oldVid + 1);
    expect(log[2]!.oid).toBe(oidToHex(inodeOidHi(img.vid), 0));

    peer.server.log.clear();
    const b = new Uint8Array(3 * MiB).fill(0xbb);
    await bb.write(2 * MiB, b); // objects 0 and 1: both COW
    const creates = peer.server.log.list().filter((e) => e.opcode === SD_OP_CREATE_AND_WRITE_OBJ);
    expect(creates.map((e) => e.flags)).toEqual([0x07, 0x07]);
    await img.snapshotCreate('second');
    expect((await img.snapshotList()).map((s) => [s.id, s.name])).toEqual([['1', 'first'], ['2', 'second']]);
    expect(peer.server.log.list().some((e) => e.opcode === SD_OP_READ_VDIS)).toBe(true);
    await bb.close();

    // The first snapshot still has `a`, by id and by tag; the current VDI has a + b.
    expect(Buffer.compare(await readAt(`${peer.server.uri('snap')}#1`, 0, 6 * MiB), a)).toBe(0);
    expect(Buffer.compare(await readAt(`${peer.server.uri('snap')}#first`, 0, 6 * MiB), a)).toBe(0);
    const cur = Buffer.from(a);
    cur.set(b, 2 * MiB);
    expect(Buffer.compare(await readAt(peer.server.uri('snap'), 0, 6 * MiB), cur)).toBe(0);
  });

  it('refuses a snapshot of a snapshot', async () => {
    const bb = await openImage({ filename: `${peer.server.uri('snap')}#1`, format: 'raw', readOnly: true });
    await expect(imageOf(bb).snapshotCreate('x')).rejects.toMatchObject({ code: 'EINVAL' });
    await bb.close();
  });

  it('goto: ENOENT without vm state (QEMU 1.4), otherwise reads the snapshot and branches on write', async () => {
    await createVdi(peer.server, 'vm', 8 * MiB);
    const bb = await openVdi(peer.server, 'vm', 'writeback');
    const img = imageOf(bb);
    await bb.write(0, new Uint8Array(4096).fill(1));
    await img.snapshotCreate('disk-only');
    await bb.write(0, new Uint8Array(4096).fill(2));
    await img.snapshotCreate('with-vm', 4096, 123);
    await bb.write(0, new Uint8Array(4096).fill(3));
    await expect(img.snapshotGoto('disk-only')).rejects.toMatchObject({ code: 'ENOENT' });
    await img.snapshotGoto('with-vm');
    const buf = new Uint8Array(4096);
    await bb.read(0, buf);
    expect(buf[0]).toBe(2);
    peer.server.log.clear();
    await bb.write(0, new Uint8Array(10).fill(4)); // branches
    expect(peer.server.log.list().some((e) => e.opcode === SD_OP_NEW_VDI)).toBe(true);
    await bb.read(0, buf);
    expect([buf[0], buf[10]]).toEqual([4, 2]);
    await bb.close();
    expect((await readAt(`${peer.server.uri('vm')}#with-vm`, 0, 16))[0]).toBe(2);
  });

  it('delete: DEL_VDI on 1.0.1; a clear ENOTSUP on 0.5.6', async () => {
    await createVdi(v101.server, 'del', 8 * MiB);
    let bb = await openVdi(v101.server, 'del', 'writeback');
    await imageOf(bb).snapshotCreate('old');
    expect(await imageOf(bb).snapshotList()).toHaveLength(1);
    await imageOf(bb).snapshotDelete('old');
    expect(await imageOf(bb).snapshotList()).toHaveLength(0);
    await bb.close();
    bb = await openVdi(peer.server, 'snap', 'writeback');
    await expect(imageOf(bb).snapshotDelete('1')).rejects.toMatchObject({ code: 'ENOTSUP', message: expect.stringContaining('DEL_VDI') });
    await bb.close();
  });
});
