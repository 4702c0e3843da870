// main() as qemu-nbd: the same messages and exit codes as the real
// qemu-nbd 7.2 for bad command lines, the serving lifecycle (exit after the
// last client unless -t), -e limits, and what is deliberately different.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NbdClient } from '@tsemu/block-nbd';
import { main } from '../src/index.js';
import { InProcessServer, cleanupDir, run, tempDir, waitFor } from './helpers.js';

let dir: string;
let image: string;

beforeAll(async () => {
  dir = tempDir('tsemu-nbd-cli-');
  image = join(dir, 'd.raw');
  expect((await run('qemu-img', ['create', '-f', 'raw', image, '1M'])).code).toBe(0);
});

afterAll(() => cleanupDir(dir));

async function tsemu(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } });
  return { code, stdout, stderr };
}

describe('bad command lines: same message and status as qemu-nbd 7.2', () => {
  const cases: string[][] = [
    ['missing.raw'],
    ['-f', 'qcow3', 'd.raw'],
    ['--cache=bogus', 'd.raw'],
    ['--aio=x', 'd.raw'],
    ['--discard=x', 'd.raw'],
    ['--detect-zeroes=x', 'd.raw'],
    ['--detect-zeroes=unmap', 'd.raw'],
    [],
    ['a', 'b'],
    ['--bogus'],
    ['-z'],
    ['-x'],
    ['-L', 'd.raw'],
    ['-e', 'abc', 'd.raw'],
    ['-e', '-1', 'd.raw'],
  ];
  it.each(cases)('qemu-nbd %s', async (...args) => {
    // -k keeps any accidental server off the network; every case fails before listening.
    const full = ['-k', join(dir, 'never.sock'), ...args];
    const real = await run('qemu-nbd', full, { cwd: dir, timeout: 5000 });
    const prev = process.cwd();
    process.chdir(dir);
    try {
      const ours = await tsemu(full);
      expect(ours.stderr).toBe(real.stderr);
      expect(ours.code).toBe(real.code);
    } finally {
      process.chdir(prev);
    }
  });
});

describe('what tsemu-nbd says it cannot do', () => {
  it('-c /dev/nbdX is refused clearly, before touching the image', async () => {
    const r = await tsemu(['-c', '/dev/nbd0', image]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^qemu-nbd: -c\/--connect is not supported: .*kernel NBD driver/);
  });

  it('--help says that the default bind address is localhost', async () => {
    const r = await tsemu(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/-b, --bind=IFACE +interface to bind to \(default `127\.0\.0\.1'/);
    expect(r.stdout).toContain('listens on localhost only');
  });

  it('--version', async () => {
    const r = await tsemu(['--version']);
    expect(r).toMatchObject({ code: 0, stdout: expect.stringMatching(/^qemu-nbd 7\.2\.22 \(tsemu-nbd /) });
  });
});

describe('serving lifecycle', () => {
  it('without -t the server exits 0 after its last client leaves, and removes its socket', async () => {
    const sock = join(dir, 'once.sock');
    const srv = await InProcessServer.start(['-f', 'raw', '-k', sock, image]);
    const c = await NbdClient.connect({ type: 'unix', path: sock }, '');
    await c.close();
    expect(await srv.exit).toBe(0);
    expect(existsSync(sock)).toBe(false);
  });

  it('listens on 127.0.0.1 when no -b is given (port 0 picks a free port)', async () => {
    const srv = await InProcessServer.start(['-f', 'raw', '-t', '-p', '0', image]);
    try {
      expect(srv.address).toMatchObject({ type: 'inet', host: '127.0.0.1' });
    } finally {
      await srv.stop();
    }
  });

  it('-e 2: a third client gets no greeting until one of the first two leaves', async () => {
    const sock = join(dir, 'e2.sock');
    const srv = await InProcessServer.start(['-f', 'raw', '-t', '-e', '2', '-k', sock, image]);
    try {
      const a = await NbdClient.connect({ type: 'unix', path: sock }, '');
      const b = await NbdClient.connect({ type: 'unix', path: sock }, '');
      let third: NbdClient | undefined;
      const pending = NbdClient.connect({ type: 'unix', path: sock }, '').then((c) => (third = c));
      await new Promise((r) => setTimeout(r, 150));
      expect(third).toBeUndefined();
      await a.close();
      await pending;
      await waitFor(() => third !== undefined, 'third client');
      await b.close();
      await third!.close();
    } finally {
      await srv.stop();
    }
  });
});

describe('-o/--offset', () => {
  it('exports the image from OFFSET on', async () => {
    const img = join(dir, 'off.raw');
    expect((await run('qemu-img', ['create', '-f', 'raw', img, '1M'])).code).toBe(0);
    expect((await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5e 512 512', img])).code).toBe(0);
    const sock = join(dir, 'off.sock');
    const srv = await InProcessServer.start(['-f', 'raw', '-t', '-o', '512', '-k', sock, img]);
    try {
      const c = await NbdClient.connect({ type: 'unix', path: sock }, '');
      expect(c.info.size).toBe((1 << 20) - 512);
      const b = new Uint8Array(513);
      await c.read(0, 513, [b]);
      expect(b.subarray(0, 512).every((x) => x === 0x5e)).toBe(true);
      expect(b[512]).toBe(0);
      await c.close();
    } finally {
      await srv.stop();
    }
  });
});

describe('block options reach the exported backend', () => {
  it('--image-opts with --cache, --discard=unmap and --detect-zeroes=unmap: zero writes become holes', async () => {
    const img = join(dir, 'dz.raw');
    expect((await run('qemu-img', ['create', '-f', 'raw', img, '2M'])).code).toBe(0);
    expect((await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x33 0 2M', img])).code).toBe(0);
    const sock = join(dir, 'dz.sock');
    const srv = await InProcessServer.start([
      '--image-opts', '--cache=writethrough', '--aio=threads', '--discard=unmap', '--detect-zeroes=unmap', '-t', '-k', sock,
      `driver=raw,file.driver=file,file.filename=${img}`,
    ]);
    try {
      const w = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0 1M 1M', srv.uri()]);
      expect(w.code, w.stderr).toBe(0);
      const map = await run('qemu-img', ['map', '--output=json', '-f', 'raw', img]);
      const entries = JSON.parse(map.stdout) as { start: number; data: boolean }[];
      expect(entries.find((e) => e.start === 1 << 20)?.data).toBe(false);
    } finally {
      await srv.stop();
    }
  });
});
