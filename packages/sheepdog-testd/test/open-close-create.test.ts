// Issue 5 bullets that had no test of their own: TCP_NODELAY on the I/O
// socket, RELEASE_VDI's "not locked" answer ignored at close, and create with
// a backing file that must be a sheepdog snapshot (NEW_VDI with its vid).
import { Socket } from 'node:net';
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { createImage, openImage } from '@tsemu/block-core';
import { SD_OP_NEW_VDI, SD_OP_RELEASE_VDI, SD_RES_VDI_NOT_LOCKED } from '@tsemu/block-sheepdog';
import { startPeer, createVdi, openVdi, imageOf, pattern, type Peer } from './helpers.js';

const MiB = 1 << 20;
let peer: Peer; // 1.0.1: real locks, so RELEASE of an unlocked VDI is answered VDI_NOT_LOCKED

beforeAll(async () => {
  peer = await startPeer({ flavour: '1.0.1' });
});
afterAll(async () => {
  await peer.cleanup();
});

describe('open and close', () => {
  it('sets TCP_NODELAY on TCP sockets', async () => {
    await createVdi(peer.server, 'nodelay', 4 * MiB);
    const spy = vi.spyOn(Socket.prototype, 'setNoDelay');
    try {
      const bb = await openVdi(peer.server, 'nodelay', 'writeback');
      await bb.write(0, new Uint8Array(512));
      await bb.close();
      expect(spy.mock.calls.length).toBeGreaterThan(0);
      expect(spy.mock.calls.every((args) => args[0] === true)).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });

  it('close ignores VDI_NOT_LOCKED from RELEASE_VDI (a snapshot opened shared is not locked)', async () => {
    await createVdi(peer.server, 'rel', 4 * MiB);
    const bb = await openVdi(peer.server, 'rel', 'writeback');
    await imageOf(bb).snapshotCreate('s');
    await bb.close();
    const snap = await openImage({ filename: `${peer.server.uri('rel')}#s`, format: 'raw', readOnly: true });
    peer.server.log.clear();
    await expect(snap.close()).resolves.toBeUndefined();
    const release = peer.server.log.list().filter((e) => e.opcode === SD_OP_RELEASE_VDI);
    expect(release.map((e) => e.result)).toEqual([SD_RES_VDI_NOT_LOCKED]);
  });
});

describe('create with a backing file', () => {
  it('clones a sheepdog snapshot: NEW_VDI with its vid as base, the data shows through', async () => {
    await createVdi(peer.server, 'golden', 12 * MiB);
    const bb = await openVdi(peer.server, 'golden', 'writeback');
    const data = pattern(9 * MiB, 21);
    await bb.write(MiB, data);
    await imageOf(bb).snapshotCreate('v1');
    const snapVid = (await imageOf(bb).snapshotList())[0]!;
    await bb.close();
    peer.server.log.clear();
    await createImage({ filename: peer.server.uri('clone'), format: 'sheepdog', size: 12 * MiB, options: { backing_file: `${peer.server.uri('golden')}#v1` } });
    const create = peer.server.log.list().find((e) => e.opcode === SD_OP_NEW_VDI)!;
    expect(create.baseVdiId).toBe(peer.server.node.vdis.byTag('golden', 'v1')!.vid);
    expect(create.snapId).toBe(0); // a clone, not a new version of the base
    expect(snapVid.name).toBe('v1');
    const clone = await openImage({ filename: peer.server.uri('clone'), format: 'raw', readOnly: true });
    const back = new Uint8Array(data.length);
    await clone.read(MiB, back);
    await clone.close();
    expect(Buffer.compare(back, data)).toBe(0);
  });

  it('refuses a backing file that is not a snapshot, or not sheepdog', async () => {
    await createVdi(peer.server, 'plain', 4 * MiB);
    await expect(createImage({ filename: peer.server.uri('c2'), format: 'sheepdog', size: 4 * MiB, options: { backing_file: peer.server.uri('plain') } }))
      .rejects.toMatchObject({ code: 'EINVAL', message: 'cannot clone from a non snapshot vdi' });
    await expect(createImage({ filename: peer.server.uri('c3'), format: 'sheepdog', size: 4 * MiB, options: { backing_file: '/tmp/x.raw' } }))
      .rejects.toMatchObject({ code: 'EINVAL' });
  });
});
