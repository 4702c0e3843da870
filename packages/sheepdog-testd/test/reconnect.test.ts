// Issue 5, proof 4 (reconnect) and the READONLY path: restart the peer in
// the middle of a stream of writes — the stream completes and the data is
// all there; a snapshot taken under a running writer turns its next write
// into a copy-on-write to the new VDI.
import { describe, it, expect } from 'vitest';
import { openImage } from '@tsemu/block-core';
import { SD_OP_CREATE_AND_WRITE_OBJ as CREATE, SD_FLAG_CMD_COW as COW, SD_RES_READONLY, dataOidHi, oidToHex, newVdi } from '@tsemu/block-sheepdog';
import { startPeer, restartPeer, createVdi, openVdi, pattern } from './helpers.js';

const MiB = 1 << 20;

describe('reconnect', () => {
  for (const flavour of ['0.5.6', '1.0.1'] as const) {
    it(`a peer restart (${flavour}) in the middle of a write stream: every write completes and is there`, async () => {
      let peer = await startPeer({ flavour });
      try {
        await createVdi(peer.server, 'stream', 16 * MiB);
        const bb = await openVdi(peer.server, 'stream', 'writeback');
        const chunk = 256 * 1024;
        const total = 48;
        const writes: Promise<void>[] = [];
        for (let i = 0; i < total; i++) {
          writes.push(bb.write(((i * 5) % 64) * chunk, pattern(chunk, 100 + i)));
          if (i === total / 2) {
            // Restart (graceful: the daemon's cache is written out) while writes are in flight.
            peer = await restartPeer(peer);
          }
          if (i % 4 === 3) await Promise.all(writes.splice(0));
        }
        await Promise.all(writes);
        await bb.flush();
        const expected = new Uint8Array(16 * MiB);
        for (let i = 0; i < total; i++) expected.set(pattern(chunk, 100 + i), ((i * 5) % 64) * chunk);
        const back = new Uint8Array(16 * MiB);
        await bb.read(0, back);
        expect(Buffer.compare(back, expected)).toBe(0);
        const image = bb.root.file!.state as unknown as { reconnects: number };
        expect(image.reconnects).toBeGreaterThanOrEqual(1);
        await bb.close();
        // And from a fresh open, too.
        const again = await openVdi(peer.server, 'stream', 'directsync');
        const back2 = new Uint8Array(16 * MiB);
        await again.read(0, back2);
        expect(Buffer.compare(back2, expected)).toBe(0);
        await again.close();
      } finally {
        await peer.cleanup();
      }
    });
  }

  it('gives up with EIO after the reconnect timeout', async () => {
    const peer = await startPeer();
    try {
      await createVdi(peer.server, 'gone', 8 * MiB);
      const bb = await openVdi(peer.server, 'gone', 'writeback', { 'file.x-reconnect-timeout': '300' });
      await bb.write(0, new Uint8Array(512));
      await peer.server.close();
      await expect(bb.write(0, new Uint8Array(512))).rejects.toMatchObject({ code: 'EIO', message: expect.stringContaining('reconnect') });
      await bb.close();
    } finally {
      await peer.cleanup();
    }
  });
});

describe('READONLY (sheep 1.0.1): a snapshot taken under a running writer', () => {
  it('reloads the inode and redoes the write as copy-on-write to the new VDI', async () => {
    const peer = await startPeer({ flavour: '1.0.1' });
    try {
      await createVdi(peer.server, 'live', 8 * MiB);
      const bb = await openVdi(peer.server, 'live', 'writeback');
      const before = pattern(4 * MiB, 5);
      await bb.write(0, before);
      const oldVid = peer.server.node.vdis.current('live')!.vid;
      const newVid = await newVdi({ host: '127.0.0.1', port: peer.server.port }, 'live', 8 * MiB, oldVid, true); // `dog vdi snapshot`
      peer.server.log.clear();
      await bb.write(100, new Uint8Array(10).fill(0xab));
      const log = peer.server.log.list();
      expect(log.some((e) => e.result === SD_RES_READONLY)).toBe(true);
      const create = log.find((e) => e.opcode === CREATE)!;
      expect(create.flags & COW).toBe(COW);
      expect(create.oid).toBe(oidToHex(dataOidHi(newVid), 0));
      expect(create.cowOid).toBe(oidToHex(dataOidHi(oldVid), 0));
      const back = new Uint8Array(4 * MiB);
      await bb.read(0, back);
      const expected = Buffer.from(before);
      expected.fill(0xab, 100, 110);
      expect(Buffer.compare(back, expected)).toBe(0);
      await bb.close();
      // The snapshot (snap id 1) kept the bytes from before.
      const snap = await openImage({ filename: `${peer.server.uri('live')}#1`, format: 'raw', readOnly: true });
      await snap.read(0, back);
      expect(Buffer.compare(back, before)).toBe(0);
      await snap.close();
    } finally {
      await peer.cleanup();
    }
  });
});
