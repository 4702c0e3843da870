// The tsemu-nbd command as a process: version, serving to real clients
// (qemu-io, nbdinfo), SIGTERM shutdown, --fork with --pid-file.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForListener } from '../../../packages/block-nbd/test/helpers.js';

const BIN = resolve(fileURLToPath(new URL('.', import.meta.url)), '../bin/tsemu-nbd.js');

function run(cmd: string, args: string[], timeout = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(cmd, args, { timeout, encoding: 'utf8' }, (err, stdout, stderr) => {
      done({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0, stdout, stderr });
    });
  });
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 15_000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let dir: string;
let image: string;
const pids: number[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsemu-nbd-app-'));
  image = join(dir, 'd.raw');
  expect((await run('qemu-img', ['create', '-f', 'raw', image, '4M'])).code).toBe(0);
});

afterAll(() => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('tsemu-nbd', () => {
  it('--version', async () => {
    const r = await run(process.execPath, [BIN, '--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^qemu-nbd 7\.2\.22 \(tsemu-nbd \d+\.\d+\.\d+\)/);
  });

  it('serves qemu-io and nbdinfo, and stops cleanly on SIGTERM', async () => {
    const sock = join(dir, 'a.sock');
    const child = spawn(process.execPath, [BIN, '-f', 'raw', '-t', '-e', '2', '-x', 'e', '-k', sock, image], { stdio: ['ignore', 'ignore', 'pipe'] });
    pids.push(child.pid!);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    await waitForListener(sock, child);
    const uri = `nbd+unix:///e?socket=${sock}`;
    const w = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x42 64k 64k', '-c', 'read -P 0x42 64k 64k', uri]);
    expect(w.code, w.stderr).toBe(0);
    const info = await run('nbdinfo', ['--size', uri]);
    expect(info.stdout.trim()).toBe(String(4 << 20));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
    expect(existsSync(sock)).toBe(false);
    expect(readFileSync(image).subarray(65536, 131072).every((b) => b === 0x42)).toBe(true);
  });

  it('-o with a partial last sector: the tail past the file\'s end reports and reads as zeroes', async () => {
    // The export length is rounded up to 512 as qemu-nbd's; the last 160
    // bytes lie past the file. qemu-nbd 7.2 itself spins on block status
    // there (with -s it answers hole,zero, as we do).
    const file = join(dir, 'odd.raw');
    const data = Buffer.alloc(1 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
    writeFileSync(file, data);
    const sock = join(dir, 'odd.sock');
    const child = spawn(process.execPath, [BIN, '-f', 'raw', '-o', '100000', '-r', '-t', '-k', sock, file], { stdio: 'ignore' });
    pids.push(child.pid!);
    await waitForListener(sock, child);
    const uri = `nbd+unix:///?socket=${sock}`;
    const map = await run('nbdinfo', ['--map', uri]);
    expect(map.code, map.stderr).toBe(0);
    expect(map.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/))).toEqual([
      ['0', '948576', '0', 'data'],
      ['948576', '160', '3', 'hole,zero'],
    ]);
    const copy = join(dir, 'odd.copy');
    const c = await run('nbdcopy', [uri, copy]);
    expect(c.code, c.stderr).toBe(0);
    expect(readFileSync(copy).equals(Buffer.concat([data.subarray(100000), Buffer.alloc(160)]))).toBe(true);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('--fork returns once the server listens; --pid-file names the server process', async () => {
    const sock = join(dir, 'f.sock');
    const pidFile = join(dir, 'nbd.pid');
    const errPath = join(dir, 'fork.err');
    const errFd = openSync(errPath, 'w');
    // The forked server keeps stderr (as qemu-nbd does), so give it a file rather than a pipe.
    const parent = spawn(process.execPath, [BIN, '-f', 'raw', '-t', '--fork', '--pid-file', pidFile, '-k', sock, image], { stdio: ['ignore', 'ignore', errFd] });
    closeSync(errFd);
    const code = await new Promise<number | null>((r) => parent.once('exit', (c) => r(c)));
    expect(code).toBe(0);
    expect(existsSync(sock)).toBe(true);
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    pids.push(pid);
    expect(pid).not.toBe(parent.pid);
    const info = await run('nbdinfo', ['--size', `nbd+unix:///?socket=${sock}`]);
    expect(info.stdout.trim()).toBe(String(4 << 20));
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !existsSync(pidFile), 'pid file removal');
    expect(readFileSync(errPath, 'utf8')).toBe('');
  });

  it('--fork reports a failure to start with status 1', async () => {
    const r = await run(process.execPath, [BIN, '--fork', '-k', join(dir, 'x.sock'), join(dir, 'missing.raw')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("qemu-nbd: Failed to blk_new_open");
  });
});

describe('tsemu-nbd with --object secret', () => {
  it('serves a luks volume deciphered, the bytes qemu-nbd serves', async () => {
    const vol = join(dir, 'v.luks');
    const secret = ['--object', 'secret,id=s0,data=abc'];
    const create = ['create', '-q', '-f', 'luks', ...secret, '-o', 'key-secret=s0,iter-time=10', vol, '1M'];
    let made = await run('qemu-img', create);
    // qemu-img times PBKDF2 with getrusage and fails now and then ("Unable to
    // get accurate CPU usage", 1 run in 6 to 13 in 20 here, and a CI run once
    // saw 31 in a row when retried at once): try again after a pause.
    for (let i = 0; i < 60 && /Unable to get accurate CPU usage/.test(made.stderr); i++) {
      await new Promise((resume) => setTimeout(resume, 50));
      made = await run('qemu-img', create);
    }
    expect(made.code, made.stderr).toBe(0);
    const opts = ['--image-opts', `driver=luks,key-secret=s0,file.filename=${vol}`];
    expect((await run('qemu-io', [...secret, ...opts, '-c', 'write -P 0x6c 4096 64k'])).code).toBe(0);
    const copies: Buffer[] = [];
    for (const server of [[process.execPath, BIN], ['qemu-nbd']]) {
      const sock = join(dir, `luks-${copies.length}.sock`);
      const child = spawn(server[0]!, [...server.slice(1), '-r', '-k', sock, ...secret, ...opts], { stdio: ['ignore', 'ignore', 'pipe'] });
      pids.push(child.pid!);
      // Without -t the server ends after its one client; both must end with status 0.
      const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
      await waitForListener(sock, child);
      const out = join(dir, `luks-${copies.length}.raw`);
      const r = await run('nbdcopy', [`nbd+unix:///?socket=${sock}`, out]);
      expect(r.code, r.stderr).toBe(0);
      copies.push(readFileSync(out));
      expect(await exited).toBe(0);
    }
    expect(copies[0]!.subarray(4096, 4096 + 65536).every((b) => b === 0x6c)).toBe(true);
    expect(copies[0]!.equals(copies[1]!)).toBe(true);
  });

  it('a secret without data: qemu-nbd\'s message and status', async () => {
    const args = ['--object', 'secret,id=s0', '-k', join(dir, 'x.sock'), image];
    const t = await run(process.execPath, [BIN, ...args]);
    const q = await run('qemu-nbd', args);
    expect(t.stderr).toBe("qemu-nbd: Either 'file' or 'data' must be provided\n");
    expect({ code: t.code, stderr: t.stderr }).toEqual({ code: q.code, stderr: q.stderr });
  });
});
