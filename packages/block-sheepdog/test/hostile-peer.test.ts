// The client never trusts the daemon: truncated, garbage and oversized
// replies end in a clean EIO with bounded memory, never a hang or a crash.
import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import { createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import fc from 'fast-check';
import {
  SheepdogIoConnection, findVdi, encodeReply, decodeRequest, SD_HEADER_SIZE, SD_OP_READ_OBJ, SD_OP_WRITE_OBJ,
  SD_FLAG_CMD_CACHE, SD_FLAG_CMD_WRITE, SD_RES_SUCCESS,
} from '../src/index.js';

/** A scripted "daemon": each connection is handed to the current behaviour. */
let behaviour: (socket: Socket) => void = (s) => s.destroy();
let server: Server;
let address: { host: string; port: number };

beforeAll(async () => {
  server = createServer((s) => behaviour(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  address = { host: '127.0.0.1', port: (server.address() as AddressInfo).port };
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

/** Calls `onRequest` with each complete request header the client sends (payload skipped). */
function onRequests(socket: Socket, onRequest: (h: ReturnType<typeof decodeRequest>) => void): void {
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= SD_HEADER_SIZE) {
      const h = decodeRequest(pending.subarray(0, SD_HEADER_SIZE));
      const payload = h.flags & SD_FLAG_CMD_WRITE ? h.dataLength : 0;
      if (pending.length < SD_HEADER_SIZE + payload) return;
      pending = pending.subarray(SD_HEADER_SIZE + payload);
      onRequest(h);
    }
  });
  socket.on('error', () => {});
}

function reply(id: number, result: number, dataLength: number): Buffer {
  const h = Buffer.alloc(SD_HEADER_SIZE);
  encodeReply(h, SD_OP_READ_OBJ, 0, id, dataLength, result, 0);
  return h;
}

async function read4k(conn: SheepdogIoConnection): Promise<number> {
  return conn.request(SD_OP_READ_OBJ, SD_FLAG_CMD_CACHE, 1, 0, 0, 0, 0, 0, null, new Uint8Array(4096));
}

const isEio = expect.objectContaining({ code: 'EIO' });

describe('hostile replies on the I/O connection', () => {
  it('a reply cut inside the header fails the request with EIO', async () => {
    behaviour = (s) => onRequests(s, (h) => s.end(reply(h.id, 0, 0).subarray(0, 20)));
    const conn = await SheepdogIoConnection.open(address);
    await expect(read4k(conn)).rejects.toEqual(isEio);
    await conn.close();
  });

  it('a reply cut inside the payload fails with EIO', async () => {
    behaviour = (s) => onRequests(s, (h) => s.end(Buffer.concat([reply(h.id, 0, 4096), Buffer.alloc(1000)])));
    const conn = await SheepdogIoConnection.open(address);
    await expect(read4k(conn)).rejects.toEqual(isEio);
    await conn.close();
  });

  it('a reply for an unknown id fails everything in flight and later requests', async () => {
    behaviour = (s) => onRequests(s, (h) => s.write(reply(h.id + 1000, 0, 0)));
    const conn = await SheepdogIoConnection.open(address);
    const a = read4k(conn);
    const b = read4k(conn);
    await expect(a).rejects.toEqual(isEio);
    await expect(b).rejects.toEqual(isEio);
    await expect(read4k(conn)).rejects.toThrow(/protocol error/);
    await conn.close();
  });

  it('an oversized data_length is refused at the header: no allocation, prompt EIO', async () => {
    // The peer claims 4 GiB and then goes quiet, keeping the socket open.
    behaviour = (s) => onRequests(s, (h) => s.write(reply(h.id, 0, 0xffffffff)));
    const before = process.memoryUsage().arrayBuffers;
    const conn = await SheepdogIoConnection.open(address);
    await expect(read4k(conn)).rejects.toThrow(/reply carries 4294967295 bytes/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
    await conn.close();
  });

  it('a write reply that carries data is a protocol error', async () => {
    behaviour = (s) => onRequests(s, (h) => s.write(Buffer.concat([reply(h.id, 0, 8), Buffer.alloc(8)])));
    const conn = await SheepdogIoConnection.open(address);
    const w = conn.request(SD_OP_WRITE_OBJ, SD_FLAG_CMD_WRITE | SD_FLAG_CMD_CACHE, 1, 0, 0, 0, 0, 0, new Uint8Array(8), null);
    await expect(w).rejects.toEqual(isEio);
    await conn.close();
  });

  it('matches out-of-order replies by id', async () => {
    behaviour = (s) => {
      const held: number[] = [];
      onRequests(s, (h) => {
        held.push(h.id);
        if (held.length < 3) return;
        for (const id of held.reverse()) s.write(Buffer.concat([reply(id, SD_RES_SUCCESS, 4), Buffer.alloc(4, id)]));
      });
    };
    const conn = await SheepdogIoConnection.open(address);
    const bufs = [new Uint8Array(4), new Uint8Array(4), new Uint8Array(4)];
    const results = await Promise.all(bufs.map((b) => conn.request(SD_OP_READ_OBJ, SD_FLAG_CMD_CACHE, 1, 0, 0, 0, 0, 0, null, b)));
    expect(results).toEqual([0, 0, 0]);
    expect(bufs.map((b) => b[0])).toEqual([1, 2, 3]);
    await conn.close();
  });

  it('garbage replies end in EIO or a decoded result, never a hang (seeded)', async () => {
    const seed = Number(process.env.SD_SEED ?? Date.now() % 1e9);
    console.log(`garbage reply property seed=${seed}`);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 200 }), async (garbage) => {
        behaviour = (s) => onRequests(s, () => s.end(Buffer.from(garbage)));
        const conn = await SheepdogIoConnection.open(address);
        const outcome = await read4k(conn).then((r) => ({ r }), (e: { code?: string }) => ({ e: e.code }));
        if ('e' in outcome) expect(outcome.e).toBe('EIO');
        else expect(typeof outcome.r).toBe('number');
        await conn.close();
      }),
      { seed, numRuns: 40 },
    );
  });
});

describe('hostile replies on short-lived sockets', () => {
  it('a lookup answered with an oversized payload is EIO, not ENOENT', async () => {
    behaviour = (s) => onRequests(s, (h) => s.write(reply(h.id, 0, 1 << 30)));
    await expect(findVdi(address, 'disk', 0, '', true)).rejects.toEqual(isEio);
  });

  it('a daemon that hangs up before replying is EIO', async () => {
    behaviour = (s) => onRequests(s, () => s.destroy());
    await expect(findVdi(address, 'disk', 0, '', true)).rejects.toEqual(isEio);
  });
});
