// Real clients against tsemu-nbd: qemu-io and qemu-img 7.2, nbdinfo and
// nbdcopy (libnbd). The server runs in this process (main() with -k on a
// temp unix socket); clients run as child processes.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImage } from '@tsemu/block-core';
import { NBD_CMD_FLAG_DF, NbdClient, NbdCommand } from '@tsemu/block-nbd';
import { RawSession } from './raw-client.js';
import { NbdServer, main } from '../src/index.js';
import { InProcessServer, cleanupDir, pattern, parseNbdinfoMap, qemuImgMap, run, tempDir, waitForListener } from './helpers.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

let dir: string;
let image: string;
let server: InProcessServer;
let sock: string;

beforeAll(async () => {
  dir = tempDir('tsemu-nbd-interop-');
  image = join(dir, 'disk.raw');
  sock = join(dir, 'nbd.sock');
  expect((await run('qemu-img', ['create', '-f', 'raw', image, '16M'])).code).toBe(0);
  const w = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0xab 0 64k', '-c', 'write -P 0xcd 1M 64k', '-c', 'write -P 0xef 5M 1M', image]);
  expect(w.code, w.stderr).toBe(0);
  server = await InProcessServer.start(['-f', 'raw', '-t', '-e', '8', '--discard=unmap', '-x', 'disk', '-D', 'test disk', '-k', sock, image]);
});

afterAll(async () => {
  await server?.stop();
  cleanupDir(dir);
});

describe('qemu-io and qemu-img as clients', () => {
  it('qemu-io reads, writes, flushes, zeroes and discards', async () => {
    const r = await run('qemu-io', ['-f', 'raw',
      '-c', 'read -P 0xab 0 64k', '-c', 'write -P 0x11 2M 128k', '-c', 'flush', '-c', 'write -z 1M 4k',
      '-c', 'write -z -u 5M 64k', '-c', 'discard 6M 64k', '-c', 'read -P 0 1M 4k', '-c', 'read -P 0x11 2M 128k',
      server.uri('disk')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('read 65536/65536 bytes at offset 0');
    expect(r.stdout).toContain('wrote 131072/131072 bytes at offset 2097152');
    expect(r.stdout).toContain('discard 65536/65536 bytes at offset 6291456');
    const file = readFileSync(image);
    expect(file.subarray(2 << 20, (2 << 20) + 131072).every((b) => b === 0x11)).toBe(true);
    expect(file.subarray(1 << 20, (1 << 20) + 4096).every((b) => b === 0)).toBe(true);
    expect(file.subarray((1 << 20) + 4096, (1 << 20) + 65536).every((b) => b === 0xcd)).toBe(true);
    expect(file.subarray(5 << 20, (5 << 20) + 65536).every((b) => b === 0)).toBe(true);
    expect(file.subarray(6 << 20, (6 << 20) + 65536).every((b) => b === 0)).toBe(true);
  });

  it('qemu-img info sees the export size', async () => {
    const r = await run('qemu-img', ['info', '--output=json', '-f', 'raw', server.uri('disk')]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)['virtual-size']).toBe(16 << 20);
  });

  it('qemu-img map through the server equals the image file\'s real allocation', async () => {
    expect(await qemuImgMap(server.uri('disk'))).toEqual(await qemuImgMap(image));
  });

  it('a read-only export answers writes with EPERM', async () => {
    const ro = await InProcessServer.start(['-f', 'raw', '-r', '-t', '-k', join(dir, 'ro.sock'), image]);
    try {
      const r = await run('qemu-io', ['-r', '-f', 'raw', '-c', 'read -P 0xab 0 4k', ro.uri()]);
      expect(r.code, r.stderr).toBe(0);
      // The raw client ignores the READ_ONLY flag and sends the write anyway: the server must refuse it.
      const client = await NbdClient.connect({ type: 'unix', path: join(dir, 'ro.sock') }, '');
      await expect(client.write(0, 512, [new Uint8Array(512)])).rejects.toMatchObject({ code: 'EPERM' });
      await expect(client.writeZeroes(0, 512)).rejects.toMatchObject({ code: 'EPERM' });
      await expect(client.trim(0, 512)).rejects.toMatchObject({ code: 'EPERM' });
      await client.close();
      const info = await run('nbdinfo', ['--json', ro.uri()]);
      expect(JSON.parse(info.stdout).exports[0].is_read_only).toBe(true);
    } finally {
      await ro.stop();
    }
  });
});

describe('structured reads', () => {
  it('a sparse read without DF comes back as data and hole chunks; with DF as one data chunk', async () => {
    const img = join(dir, 'sparse.raw');
    expect((await run('qemu-img', ['create', '-f', 'raw', img, '4M'])).code).toBe(0);
    expect((await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x61 0 64k', '-c', 'write -P 0x62 1M 64k', img])).code).toBe(0);
    const ssock = join(dir, 'sparse.sock');
    const srv = await InProcessServer.start(['-f', 'raw', '-t', '-k', ssock, img]);
    try {
      const s = await RawSession.open(ssock);
      await s.go('', true);
      s.request(NbdCommand.READ, 0, 1, 0, 2 << 20);
      const sparse = (await s.structuredReply())!;
      expect(sparse.chunks).toEqual([[1, 0, 65536], [2, 65536, (1 << 20) - 65536], [1, 1 << 20, 65536], [2, (1 << 20) + 65536, (1 << 20) - 65536]]);
      expect(sparse.data.get(1 << 20)!.every((b) => b === 0x62)).toBe(true);
      s.request(NbdCommand.READ, NBD_CMD_FLAG_DF, 2, 0, 2 << 20);
      const whole = (await s.structuredReply())!;
      expect(whole.chunks).toEqual([[1, 0, 2 << 20]]);
      s.end();
      // And a real client reassembles the same bytes.
      const r = await run('qemu-io', ['-r', '-f', 'raw', '-c', 'read -P 0x62 1M 64k', '-c', 'read -P 0 2M 1M', srv.uri()]);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      await srv.stop();
    }
  });
});

describe('nbdinfo and nbdcopy as clients', () => {
  it('nbdinfo --map equals the image file\'s real allocation', async () => {
    const r = await run('nbdinfo', ['--map', server.uri('disk')]);
    expect(r.code, r.stderr).toBe(0);
    expect(parseNbdinfoMap(r.stdout)).toEqual(await qemuImgMap(image));
  });

  it('nbdcopy copies the export out byte for byte', async () => {
    const out = join(dir, 'copy.raw');
    writeFileSync(out, '');
    const r = await run('nbdcopy', [server.uri('disk'), out]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha(readFileSync(out))).toBe(sha(readFileSync(image)));
  });

  it('nbdcopy writes a file into the export (write path, zero detection)', async () => {
    const src = join(dir, 'src.raw');
    const data = new Uint8Array(16 << 20);
    data.set(pattern(3 << 20, 7), 1 << 20);
    data.set(pattern(4096, 8), 12 << 20);
    writeFileSync(src, data);
    const r = await run('nbdcopy', [src, server.uri('disk')]);
    expect(r.code, r.stderr).toBe(0);
    const flush = await run('qemu-io', ['-f', 'raw', '-c', 'flush', server.uri('disk')]);
    expect(flush.code).toBe(0);
    expect(sha(readFileSync(image))).toBe(sha(data));
  });

  it('nbdinfo shows the export\'s description, flags and block sizes like qemu-nbd\'s', async () => {
    const r = await run('nbdinfo', ['--json', server.uri('disk')]);
    expect(r.code, r.stderr).toBe(0);
    const e = JSON.parse(r.stdout).exports[0];
    expect(e).toMatchObject({
      'export-name': 'disk', description: 'test disk', 'export-size': 16 << 20, can_flush: true, can_fua: true,
      can_trim: true, can_zero: true, can_fast_zero: true, can_df: true, can_cache: true, can_multi_conn: true,
      block_size_minimum: 1, block_size_preferred: 4096, block_size_maximum: 32 << 20,
    });
    expect(e.contexts).toEqual(['base:allocation']);
  });
});

describe('listing exports', () => {
  it('nbdinfo --list shows several exports', async () => {
    const backends = await Promise.all(['a', 'b', 'c'].map((_n, i) =>
      openImage({ options: { driver: 'null-co', size: String((i + 1) << 20), 'read-zeroes': 'on' } })));
    const srv = await NbdServer.create({
      exports: backends.map((backend, i) => ({ name: ['a', 'b', 'c'][i]!, description: `export ${i}`, backend })),
      persistent: true,
    });
    const path = join(dir, 'multi.sock');
    await srv.listen({ type: 'unix', path });
    try {
      const r = await run('nbdinfo', ['--list', '--json', `nbd+unix:///?socket=${path}`]);
      expect(r.code, r.stderr).toBe(0);
      const exps = JSON.parse(r.stdout).exports as { 'export-name': string; description: string; 'export-size': number }[];
      expect(exps.map((e) => [e['export-name'], e.description, e['export-size']])).toEqual([
        ['a', 'export 0', 1 << 20], ['b', 'export 1', 2 << 20], ['c', 'export 2', 3 << 20],
      ]);
    } finally {
      await srv.close();
    }
  });

  it('tsemu-nbd -L prints what qemu-nbd -L prints, for a tsemu-nbd and for a qemu-nbd server', async () => {
    const qemuList = await run('qemu-nbd', ['-L', '-k', sock]);
    expect(qemuList.code, qemuList.stderr).toBe(0);
    let out = '';
    const code = await main(['-L', '-k', sock], { stdout: { write: (t: string) => (out += t) }, stderr: { write: () => true } });
    expect(code).toBe(0);
    expect(out).toBe(qemuList.stdout);
    expect(out).toContain(" export: 'disk'\n  description: test disk\n");
    expect(out).toContain('flags: 0xded ( flush fua trim zeroes df multi cache fast-zero )');
  });

  it('advertises the same flags as qemu-nbd 7.2 for the same command line', async () => {
    const qsock = join(dir, 'q.sock');
    const { spawn } = await import('node:child_process');
    const q = spawn('qemu-nbd', ['-f', 'raw', '-r', '-t', '-k', qsock, image], { stdio: 'ignore' });
    const t = await InProcessServer.start(['-f', 'raw', '-r', '-t', '-k', join(dir, 't.sock'), image]);
    try {
      await waitForListener(qsock, q);
      const a = await run('qemu-nbd', ['-L', '-k', qsock]);
      const b = await run('qemu-nbd', ['-L', '-k', join(dir, 't.sock')]);
      expect(a.code, a.stderr).toBe(0);
      expect(b.stdout).toBe(a.stdout);
    } finally {
      q.kill('SIGKILL');
      await t.stop();
    }
  });
});
