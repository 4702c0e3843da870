// -s/--snapshot (a temporary qcow2 overlay over FILE, unlinked once open) and
// -l/--load-snapshot (an internal snapshot exported read-only), checked with
// qemu-io and qemu-img against the server and against the real qemu-nbd 7.2.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NbdCommand } from '@tsemu/block-nbd';
import { main } from '../src/index.js';
import { InProcessServer, TSEMU_NBD_BIN, cleanupDir, run, tempDir, waitForListener } from './helpers.js';
import { RawSession } from './raw-client.js';

const EPERM = 1;

let dir: string;

beforeAll(() => {
  dir = tempDir('tsemu-nbd-snap-');
});

afterAll(() => cleanupDir(dir));

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

async function ok(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  expect(r.code, `${cmd} ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function tsemu(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const code = await main(args, { stdout: { write: () => true }, stderr: { write: (t: string) => (stderr += t) } });
  return { code, stderr };
}

describe('-s/--snapshot', () => {
  it('writes go to a temporary overlay: read back through the export, FILE unchanged', async () => {
    const base = join(dir, 'base.raw');
    await ok('qemu-img', ['create', '-f', 'raw', base, '4M']);
    await ok('qemu-io', ['-f', 'raw', '-c', 'write -P 0x11 0 1M', base]);
    const before = sha256(base);
    const sock = join(dir, 's.sock');
    const srv = await InProcessServer.start(['-s', '-f', 'raw', '-t', '-k', sock, base]);
    try {
      const uri = srv.uri();
      const info = await ok('nbdinfo', ['--size', uri]);
      expect(info.trim()).toBe(String(4 << 20));
      await ok('qemu-io', ['-f', 'raw', '-c', 'write -P 0x22 512k 1M', '-c', 'write -z 3M 64k', uri]);
      const back = await run('qemu-io', ['-f', 'raw', '-c', 'read -P 0x11 0 512k', '-c', 'read -P 0x22 512k 1M',
        '-c', 'read -P 0 1536k 1536k', '-c', 'read -P 0 3M 64k', uri]);
      expect(back.code, back.stderr).toBe(0);
      expect(back.stdout).not.toMatch(/Pattern verification failed/);
      expect(sha256(base)).toBe(before);
    } finally {
      expect(await srv.stop()).toBe(0);
    }
    expect(sha256(base)).toBe(before);
  });

  it('probes FILE when -f is absent (qcow2 base), and takes --image-opts as qemu-nbd 7.2 does', async () => {
    const base = join(dir, 'base.qcow2');
    await ok('qemu-img', ['create', '-f', 'qcow2', base, '1M']);
    await ok('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 64k', base]);
    const before = sha256(base);
    for (const [i, spec] of [[base], ['--image-opts', `driver=qcow2,file.filename=${base}`]].entries()) {
      const sock = join(dir, `s2-${i}.sock`);
      const srv = await InProcessServer.start(['--snapshot', '-t', '-k', sock, ...spec]);
      try {
        await ok('qemu-io', ['-f', 'raw', '-c', 'write -P 0x6b 32k 64k', srv.uri()]);
        const back = await run('qemu-io', ['-f', 'raw', '-c', 'read -P 0x5a 0 32k', '-c', 'read -P 0x6b 32k 64k', srv.uri()]);
        expect(back.stdout, back.stderr).not.toMatch(/Pattern verification failed/);
        expect(back.code).toBe(0);
      } finally {
        await srv.stop();
      }
      expect(sha256(base)).toBe(before);
    }
  });

  it('-s with -o: the offset applies to the image, writes still land in the overlay', async () => {
    const base = join(dir, 'off.raw');
    await ok('qemu-img', ['create', '-f', 'raw', base, '1M']);
    await ok('qemu-io', ['-f', 'raw', '-c', 'write -P 0x44 512 4k', base]);
    const before = sha256(base);
    const srv = await InProcessServer.start(['-s', '-o', '512', '-f', 'raw', '-t', '-k', join(dir, 'off.sock'), base]);
    try {
      expect((await ok('nbdinfo', ['--size', srv.uri()])).trim()).toBe(String((1 << 20) - 512));
      const back = await run('qemu-io', ['-f', 'raw', '-c', 'read -P 0x44 0 4k', '-c', 'write -P 0x55 4k 4k', '-c', 'read -P 0x55 4k 4k', srv.uri()]);
      expect(back.stdout, back.stderr).not.toMatch(/Pattern verification failed/);
      expect(back.code).toBe(0);
    } finally {
      await srv.stop();
    }
    expect(sha256(base)).toBe(before);
  });

  it('leaves no overlay file while serving (unlinked once open, as QEMU) and exits 0 on SIGTERM and SIGINT', async () => {
    const base = join(dir, 'sig.raw');
    await ok('qemu-img', ['create', '-f', 'raw', base, '1M']);
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      const tmp = tempDir('tsemu-nbd-snap-tmp-');
      const sock = join(dir, `${sig}.sock`);
      try {
        const child = spawn(process.execPath, [TSEMU_NBD_BIN, '-s', '-f', 'raw', '-t', '-k', sock, base], {
          stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TMPDIR: tmp },
        });
        let stderr = '';
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
        await waitForListener(sock, child);
        // A write through the export proves the overlay is open (and writable).
        await ok('qemu-io', ['-f', 'raw', '-c', 'write -P 0x33 0 4k', `nbd+unix:///?socket=${sock}`]);
        expect(child.exitCode, stderr).toBeNull();
        // (tsx keeps its own cache directory in TMPDIR too.)
        expect(readdirSync(tmp).filter((f) => f.startsWith('vl.'))).toEqual([]);
        child.kill(sig);
        expect(await exited).toBe(0);
      } finally {
        cleanupDir(tmp);
      }
    }
  });
});

describe('-l/--load-snapshot', () => {
  let image: string;
  let before: string;

  beforeAll(async () => {
    image = join(dir, 'snap.qcow2');
    await ok('qemu-img', ['create', '-f', 'qcow2', image, '2M']);
    await ok('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xa1 0 1M', image]);
    await ok('qemu-img', ['snapshot', '-c', 'first', image]);
    await ok('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xb2 0 2M', image]);
    before = sha256(image);
  });

  const forms: [string, string[]][] = [
    ['a bare name', ['-l', 'first']],
    ['a bare id', ['-l', '1']],
    ['snapshot.name=', ['--load-snapshot=snapshot.name=first']],
    ['snapshot.id= and snapshot.name=', ['-l', 'snapshot.id=1,snapshot.name=first']],
  ];
  it.each(forms)('exports the snapshot, not the current content, read-only (%s)', async (_what, opt) => {
    const sock = join(dir, 'l.sock');
    const srv = await InProcessServer.start([...opt, '-f', 'qcow2', '-t', '-k', sock, image]);
    try {
      const uri = srv.uri();
      const r = await run('qemu-io', ['-r', '-f', 'raw', '-c', 'read -P 0xa1 0 1M', '-c', 'read -P 0 1M 1M', uri]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).not.toMatch(/Pattern verification failed/);
      // qemu-io sees the read-only flag and will not open the export for writing...
      const w = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0xcc 0 4k', uri]);
      expect(w.code).not.toBe(0);
      expect(w.stderr).toMatch(/Could not open image: Permission denied/);
      // ...and a client that writes anyway gets EPERM, as from qemu-nbd -r.
      const raw = await RawSession.open(sock);
      await raw.go('');
      raw.request(NbdCommand.WRITE, 0, 1, 0, 4, new Uint8Array(4));
      expect(await raw.simpleReply()).toEqual({ error: EPERM, handle: 1 });
      raw.request(NbdCommand.WRITE_ZEROES, 0, 2, 0, 4);
      expect(await raw.simpleReply()).toEqual({ error: EPERM, handle: 2 });
      raw.end();
      const info = await run('nbdinfo', [`nbd+unix:///?socket=${sock}`]);
      expect(info.stdout).toMatch(/is_read_only: true/);
    } finally {
      await srv.stop();
    }
    expect(sha256(image)).toBe(before);
  });

  const bad: string[][] = [
    ['-l', 'nosuch'],
    ['-l', 'snapshot.name=nosuch'],
    ['-l', 'snapshot.id=9'],
    ['-l', 'snapshot.id=1,snapshot.name=second'],
    ['-l', 'snapshot.bogus=1'],
    ['-s', '-l', 'first'],
  ];
  it.each(bad)('qemu-nbd %s: same stderr and status as qemu-nbd 7.2', async (...args) => {
    const full = ['-k', join(dir, 'never.sock'), ...args, image];
    const real = await run('qemu-nbd', full, { timeout: 5000 });
    const ours = await tsemu(full);
    expect(ours.stderr).toBe(real.stderr);
    expect(ours.code).toBe(real.code);
    expect(ours.code).toBe(1);
  });

  it('a raw image cannot load snapshots: same message as qemu-nbd', async () => {
    const raw = join(dir, 'plain.raw');
    await ok('qemu-img', ['create', '-f', 'raw', raw, '1M']);
    const full = ['-k', join(dir, 'never.sock'), '-f', 'raw', '-l', 'x', raw];
    const real = await run('qemu-nbd', full, { timeout: 5000 });
    const ours = await tsemu(full);
    expect(ours).toEqual({ code: real.code, stderr: real.stderr });
  });
});
