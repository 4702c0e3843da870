// Hostile clients: broken handshakes, unknown options, oversized and
// out-of-range requests, writes to a read-only export, disconnects mid
// payload, then thousands of seeded random sessions. The server must stay
// up, answer with the NBD errors qemu-nbd uses (or drop only that client),
// keep a well-behaved client on another export working throughout, and end
// with no connection left behind.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { openImage } from '@tsemu/block-core';
import {
  NBD_CMD_FLAG_REQ_ONE, NBD_MAX_PAYLOAD, NbdClient, NbdCommand, NbdOption, NbdOptionReply, encodeInfoRequest, encodeOption,
} from '@tsemu/block-nbd';
import { NbdServer } from '../src/index.js';
import { cleanupDir, pattern, run, tempDir, waitFor } from './helpers.js';
import { RawSession } from './raw-client.js';

const EPERM = 1;
const EINVAL = 22;
const ENOSPC = 28;
const SIZE = 4 << 20;

let dir: string;
let server: NbdServer;
let sock: string;
let fuzzImage: string;

beforeAll(async () => {
  dir = tempDir('tsemu-nbd-hostile-');
  sock = join(dir, 'nbd.sock');
  fuzzImage = join(dir, 'fuzz.raw');
  const good = join(dir, 'good.raw');
  for (const f of [fuzzImage, good]) expect((await run('qemu-img', ['create', '-f', 'raw', f, String(SIZE)])).code).toBe(0);
  server = await NbdServer.create({
    exports: [
      { name: 'fuzz', backend: await openImage({ filename: fuzzImage, format: 'raw', discard: 'unmap' }) },
      { name: 'good', backend: await openImage({ filename: good, format: 'raw' }) },
      { name: 'ro', backend: await openImage({ filename: good, format: 'raw', readOnly: true }), readOnly: true },
    ],
    shared: 10_000,
    persistent: true,
  });
  await server.listen({ type: 'unix', path: sock });
});

afterAll(async () => {
  await server?.close();
  cleanupDir(dir);
});

async function transmitting(exportName = 'fuzz', structured = false): Promise<RawSession> {
  const s = await RawSession.open(sock);
  await s.go(exportName, structured);
  return s;
}

describe('scripted hostile clients', () => {
  it('garbage instead of a handshake: the client is dropped, the server lives', async () => {
    const s = await RawSession.open(sock);
    await s.waitBytes(18);
    s.send(new Uint8Array(64).fill(0x41));
    await s.closedPromise;
    const ok = await transmitting();
    ok.end();
  });

  it('truncated handshakes and unknown client flags', async () => {
    const a = await RawSession.open(sock);
    a.send(new Uint8Array([0, 0]));
    a.destroy();
    const b = await RawSession.open(sock);
    await b.waitBytes(18);
    b.take(18);
    b.send(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
    await b.closedPromise;
    const c = await RawSession.open(sock);
    await c.start();
    c.send(encodeOption(NbdOption.GO, new Uint8Array(3)).subarray(0, 20));
    c.destroy();
  });

  it('unknown, malformed and oversized options get error replies and negotiation continues', async () => {
    const s = await RawSession.open(sock);
    await s.start();
    expect((await s.option(99))[0]!.type).toBe(NbdOptionReply.ERR_UNSUP);
    expect((await s.option(NbdOption.GO, new Uint8Array([0, 0, 1, 0])))[0]!.type).toBe(NbdOptionReply.ERR_INVALID);
    expect((await s.option(NbdOption.LIST, new Uint8Array(1 << 20)))[0]!.type).toBe(NbdOptionReply.ERR_TOO_BIG);
    expect((await s.option(NbdOption.SET_META_CONTEXT, new Uint8Array(8)))[0]!.type).toBe(NbdOptionReply.ERR_INVALID);
    expect((await s.option(NbdOption.GO, encodeInfoRequest({ name: 'nope', requests: [] })))[0]!.type).toBe(NbdOptionReply.ERR_UNKNOWN);
    expect((await s.option(NbdOption.STARTTLS))[0]!.type).toBe(NbdOptionReply.ERR_POLICY);
    const go = await s.option(NbdOption.GO, encodeInfoRequest({ name: 'fuzz', requests: [] }));
    expect(go[go.length - 1]!.type).toBe(NbdOptionReply.ACK);
    s.request(NbdCommand.READ, 0, 1, 0, 512);
    expect(await s.simpleReply()).toEqual({ error: 0, handle: 1 });
    s.end();
  });

  it('oversized and out-of-range requests get qemu-nbd\'s errors; the connection survives', async () => {
    const s = await transmitting();
    const cases: [number, number, number | bigint, number, number][] = [
      [NbdCommand.READ, 0, 0, NBD_MAX_PAYLOAD + 1, EINVAL],
      [NbdCommand.READ, 0, SIZE - 1, 2, EINVAL],
      [NbdCommand.READ, 0, 2n ** 63n, 1, EINVAL],
      [NbdCommand.READ, 0, 2n ** 64n - 1n, 0, EINVAL],
      [NbdCommand.WRITE_ZEROES, 0, SIZE, 1, ENOSPC],
      [NbdCommand.TRIM, 0, SIZE + 1, 0, EINVAL],
      [NbdCommand.READ, NBD_CMD_FLAG_REQ_ONE, 0, 1, EINVAL],
      [NbdCommand.BLOCK_STATUS, 0, 0, 4096, EINVAL],
      [42, 0, 0, 0, EINVAL],
      [NbdCommand.CACHE, 0, 0, 4096, 0],
    ];
    let handle = 1;
    for (const [type, flags, offset, length, error] of cases) {
      s.request(type, flags, handle, offset, length);
      const r = await s.simpleReply();
      expect(r, `type ${type} offset ${offset} length ${length}`).toEqual({ error, handle });
      handle++;
    }
    s.request(NbdCommand.WRITE, 0, 77, SIZE - 1, 2, new Uint8Array(2));
    expect(await s.simpleReply()).toEqual({ error: ENOSPC, handle: 77 });
    s.end();
  });

  it('an oversized WRITE is answered EINVAL and that client is dropped (its payload cannot be skipped safely)', async () => {
    const s = await transmitting();
    s.request(NbdCommand.WRITE, 0, 5, 0, NBD_MAX_PAYLOAD + 1);
    expect(await s.simpleReply()).toEqual({ error: EINVAL, handle: 5 });
    await s.closedPromise;
  });

  it('writes, zeroes and trims on a read-only export are EPERM', async () => {
    const s = await transmitting('ro');
    s.request(NbdCommand.WRITE, 0, 1, 0, 4, new Uint8Array(4));
    expect(await s.simpleReply()).toEqual({ error: EPERM, handle: 1 });
    s.request(NbdCommand.WRITE_ZEROES, 0, 2, 0, 4);
    expect(await s.simpleReply()).toEqual({ error: EPERM, handle: 2 });
    s.request(NbdCommand.TRIM, 0, 3, 0, 4);
    expect(await s.simpleReply()).toEqual({ error: EPERM, handle: 3 });
    s.end();
  });

  it('a disconnect in the middle of a WRITE payload writes nothing', async () => {
    const before = readFileSync(fuzzImage).subarray(2 << 20, (2 << 20) + 65536);
    const s = await transmitting();
    s.request(NbdCommand.WRITE, 0, 1, 2 << 20, 65536, new Uint8Array(30_000).fill(0x99));
    await new Promise((r) => setTimeout(r, 20));
    s.destroy();
    await waitFor(() => server.clientCount === 0, 'client cleanup');
    expect(readFileSync(fuzzImage).subarray(2 << 20, (2 << 20) + 65536)).toEqual(before);
  });

  it('a bad request magic drops the client', async () => {
    const s = await transmitting();
    s.send(new Uint8Array(28).fill(7));
    await s.closedPromise;
  });
});

/** One random session: a handshake that may go wrong anywhere, then random requests, then an abrupt or polite end. */
const sessionArb = fc.record({
  garbageFirst: fc.option(fc.uint8Array({ minLength: 1, maxLength: 40 }), { freq: 6 }),
  structured: fc.boolean(),
  options: fc.array(fc.record({ code: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.nat()), data: fc.uint8Array({ maxLength: 64 }) }), { maxLength: 3 }),
  requests: fc.array(fc.record({
    type: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 0xffff })),
    flags: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })),
    offset: fc.constantFrom(0n, 4096n, 1n << 20n, BigInt(SIZE - 1), BigInt(SIZE), 1n << 32n, 1n << 53n, 1n << 63n, (1n << 64n) - 1n),
    length: fc.constantFrom(0, 1, 512, 4096, 65536, NBD_MAX_PAYLOAD, NBD_MAX_PAYLOAD + 1, 0xffffffff),
    payloadShare: fc.constantFrom(0, 0.5, 1),
  }), { maxLength: 6 }),
  ending: fc.constantFrom('destroy', 'end', 'disc', 'garbage'),
});

describe('seeded random sessions', () => {
  it('the server stays up, other clients are unaffected, nothing leaks', async () => {
    const seed = Number(process.env.NBD_FUZZ_SEED ?? Date.now() % 1_000_000);
    const runs = Number(process.env.NBD_FUZZ_RUNS ?? 1500);
    console.log(`hostile fuzz: seed=${seed} runs=${runs} (replay with NBD_FUZZ_SEED=${seed})`);

    // A well-behaved client on another export keeps writing and verifying the whole time.
    const good = await NbdClient.connect({ type: 'unix', path: sock }, 'good');
    let stop = false;
    let rounds = 0;
    const goodLoop = (async () => {
      for (let i = 0; !stop; i++) {
        const data = pattern(8192, i + 1);
        await good.write((i % 256) * 8192, 8192, [data]);
        const back = new Uint8Array(8192);
        await good.read((i % 256) * 8192, 8192, [back]);
        expect(back).toEqual(data);
        rounds++;
      }
    })();

    await fc.assert(fc.asyncProperty(sessionArb, async (plan) => {
      const s = await RawSession.open(sock);
      try {
        if (plan.garbageFirst) {
          s.send(plan.garbageFirst);
        } else {
          await s.start();
          if (plan.structured) await s.option(NbdOption.STRUCTURED_REPLY);
          for (const o of plan.options) {
            if (o.code === NbdOption.GO || o.code === NbdOption.EXPORT_NAME || o.code === NbdOption.ABORT) continue;
            await s.option(o.code >>> 0, o.data);
          }
          const go = await s.option(NbdOption.GO, encodeInfoRequest({ name: 'fuzz', requests: [] }));
          if (go[go.length - 1]?.type === NbdOptionReply.ACK) {
            let handle = 1;
            for (const r of plan.requests) {
              const n = r.type === NbdCommand.WRITE ? Math.min(r.length, 70_000) : 0;
              const payload = n > 0 ? new Uint8Array(Math.floor(n * r.payloadShare)) : undefined;
              s.request(r.type, r.flags, handle++, r.offset, r.length, payload);
            }
          }
        }
        if (plan.ending === 'disc') s.request(NbdCommand.DISC, 0, 0, 0, 0);
        if (plan.ending === 'garbage') s.send(new Uint8Array(40).fill(0xee));
        if (plan.ending === 'destroy') s.destroy();
        else s.end();
        await Promise.race([s.closedPromise, new Promise((r) => setTimeout(r, 2000))]);
      } finally {
        s.destroy();
      }
    }), { seed, numRuns: runs });

    stop = true;
    await goodLoop;
    expect(rounds).toBeGreaterThan(0);
    // Only the good client is left: every hostile connection was cleaned up.
    await waitFor(() => server.clientCount === 1, 'hostile connections to close');
    let sockets = -1;
    for (let i = 0; i < 100 && sockets !== 1; i++) {
      sockets = await server.socketCount();
      if (sockets !== 1) await new Promise((r) => setTimeout(r, 20));
    }
    expect(sockets, 'sockets still open besides the good client').toBe(1);
    await good.close();
    await waitFor(() => server.clientCount === 0, 'good client to close');
    // And the server still serves new clients normally.
    const after = await NbdClient.connect({ type: 'unix', path: sock }, 'fuzz');
    const b = new Uint8Array(4096);
    await after.read(0, 4096, [b]);
    await after.close();
  });
});

describe('a client that never reads', () => {
  it('option replies it does not read stop the server reading its options (bounded memory)', async () => {
    const s = await RawSession.open(sock);
    await s.start();
    // 100k LIST requests whose replies (3 exports each) are never read.
    const burst = new Uint8Array(16 * 100_000);
    const one = encodeOption(NbdOption.LIST);
    for (let i = 0; i < 100_000; i++) burst.set(one, i * 16);
    s.pauseReading();
    s.send(burst);
    await new Promise((r) => setTimeout(r, 1000));
    const conn = [...(server as unknown as { connections: Set<{ socket: { writableLength: number } }> }).connections];
    expect(Math.max(...conn.map((c) => c.socket.writableLength))).toBeLessThan(2 << 20);
    s.destroy();
    await waitFor(() => server.clientCount === 0, 'cleanup');
  });
});
