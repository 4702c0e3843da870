// Issue 4's robustness limits: a client that does not finish negotiating is
// dropped after the handshake limit (QEMU's 10 s; shortened here through
// the internal option) while other clients carry on, and a client that
// sends READs but never reads the replies stops costing the server work and
// memory once its unread replies pass the write limit, yet gets every reply
// intact when it finally reads.
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImage } from '@tsemu/block-core';
import { NbdCommand, NbdOption } from '@tsemu/block-nbd';
import { NbdServer } from '../src/index.js';
import { cleanupDir, pattern, tempDir, waitFor } from './helpers.js';
import { RawSession } from './raw-client.js';

const SIZE = 64 << 20;
const HANDSHAKE_MS = 300;
const WRITE_LIMIT = 2 << 20;
const READ = 1 << 20;

let dir: string;
let server: NbdServer;
let sock: string;
let content: Uint8Array;

beforeAll(async () => {
  dir = tempDir('tsemu-nbd-limits-');
  sock = join(dir, 'nbd.sock');
  const image = join(dir, 'disk.raw');
  content = pattern(SIZE, 77);
  writeFileSync(image, content);
  server = await NbdServer.create({
    exports: [{ name: 'disk', backend: await openImage({ filename: image, format: 'raw' }) }],
    shared: 100,
    persistent: true,
    handshakeMaxMs: HANDSHAKE_MS,
    writeLimit: WRITE_LIMIT,
  });
  await server.listen({ type: 'unix', path: sock });
});

afterAll(async () => {
  await server?.close();
  cleanupDir(dir);
});

/** Reads one structured reply and checks its data against the image. */
async function expectData(s: RawSession, offset: number, length: number): Promise<void> {
  const r = await s.structuredReply();
  expect(r).toBeDefined();
  expect(r!.chunks).toEqual([[1, offset, length]]);
  expect(Buffer.compare(r!.data.get(offset)!, content.subarray(offset, offset + length))).toBe(0);
}

describe('handshake time limit', () => {
  it('drops clients that stay silent or stall mid-negotiation; others negotiate and work meanwhile', async () => {
    const silent = await RawSession.open(sock);
    const stalled = await RawSession.open(sock);
    await stalled.start();
    await stalled.option(NbdOption.STRUCTURED_REPLY); // then nothing more
    // A good client negotiates while those two hang, and keeps working after they are gone.
    const good = await RawSession.open(sock);
    await good.go('disk', true);
    good.request(NbdCommand.READ, 0, 1, 4096, 4096);
    await expectData(good, 4096, 4096);
    await silent.closedPromise;
    await stalled.closedPromise;
    expect(silent.closed && stalled.closed).toBe(true);
    // The limit is for negotiation only: idle in transmission past it, the good client is still served.
    await new Promise((r) => setTimeout(r, HANDSHAKE_MS * 2));
    expect(good.closed).toBe(false);
    good.request(NbdCommand.READ, 0, 2, 8192, 65536);
    await expectData(good, 8192, 65536);
    good.destroy();
    await waitFor(() => server.clientCount === 0, 'cleanup');
  });
});

describe('a client that sends READs but never reads the replies', () => {
  it('stops being read once its unread replies pass the write limit, then gets every reply intact', async () => {
    const s = await RawSession.open(sock);
    await s.go('disk', true);
    s.pauseReading();
    const COUNT = 48; // 48 MiB of replies asked for, far beyond the 2 MiB limit
    for (let i = 0; i < COUNT; i++) s.request(NbdCommand.READ, 0, i, i * READ, READ);
    const conn = [...server.clients][0]!;
    // Wait until the server has stopped taking requests (the count holds still for 10 looks in a row).
    let last = -1;
    let steady = 0;
    await waitFor(() => {
      const now = conn.requestsStarted;
      steady = now === last && now > 0 ? steady + 1 : 0;
      last = now;
      return steady >= 10 || now === COUNT;
    }, 'the server to stop taking requests', 20_000);
    // The 16 request slots alone would allow 16 running reads plus whatever the kernel took;
    // the reply budget stops at 2 MiB + one request, plus the few replies the socket buffer absorbed.
    expect(conn.requestsStarted).toBeLessThan(16);
    expect(conn.pendingReplyBytes).toBeLessThanOrEqual(WRITE_LIMIT + READ);
    // Now read: every reply arrives, in some order, each with the right bytes.
    s.resumeReading();
    const seen = new Set<number>();
    for (let i = 0; i < COUNT; i++) {
      const r = await s.structuredReply();
      expect(r).toBeDefined();
      const [type, offset, length] = r!.chunks[0]!;
      expect([type, length]).toEqual([1, READ]);
      expect(Buffer.compare(r!.data.get(offset)!, content.subarray(offset, offset + READ))).toBe(0);
      seen.add(offset);
    }
    expect(seen.size).toBe(COUNT);
    expect(conn.requestsStarted).toBe(COUNT);
    s.destroy();
    await waitFor(() => server.clientCount === 0, 'cleanup');
  });
});
