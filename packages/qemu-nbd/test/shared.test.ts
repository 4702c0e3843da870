// --shared=64 on the real app process: 64 clients connect at once, each
// writes its own region with its own pattern (pipelined, some with FUA),
// then every byte of the image is checked.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { NbdClient } from '@tsemu/block-nbd';
import { ChildServer, cleanupDir, pattern, run, tempDir } from './helpers.js';

const CLIENTS = 64;
const REGION = 256 << 10;
const WRITE = 32 << 10;

let dir: string;
let server: ChildServer | undefined;

beforeAll(() => {
  dir = tempDir('tsemu-nbd-shared-');
});

afterAll(async () => {
  await server?.kill();
  cleanupDir(dir);
});

it('64 concurrent clients write their own regions; every byte lands', async () => {
  const image = join(dir, 'shared.raw');
  expect((await run('qemu-img', ['create', '-f', 'raw', image, String(CLIENTS * REGION)])).code).toBe(0);
  const sock = join(dir, 'shared.sock');
  server = new ChildServer(['-f', 'raw', '--shared=64', '-t', '-k', sock, image]);
  await server.waitForSocket(sock);

  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => NbdClient.connect({ type: 'unix', path: sock }, '')));
  expect(clients.every((c) => (c.info.flags & (1 << 8)) !== 0)).toBe(true); // multi-conn, as qemu-nbd -e >1
  await Promise.all(clients.map(async (c, i) => {
    const data = pattern(REGION, i + 1);
    const writes: Promise<void>[] = [];
    for (let off = 0; off < REGION; off += WRITE) {
      writes.push(c.write(i * REGION + off, WRITE, [data.subarray(off, off + WRITE)], off === 0 ? 1 : 0));
    }
    await Promise.all(writes);
    await c.flush();
  }));
  await Promise.all(clients.map((c) => c.close()));

  const file = readFileSync(image);
  for (let i = 0; i < CLIENTS; i++) {
    expect(Buffer.compare(file.subarray(i * REGION, (i + 1) * REGION), Buffer.from(pattern(REGION, i + 1))), `region ${i}`).toBe(0);
  }
});
