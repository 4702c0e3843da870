// qemu-nbd prints one line on stderr for every client that fails the
// handshake, with or without -v. The same broken handshakes go to qemu-nbd
// 7.2 and to tsemu-nbd (both -t on a unix socket); their stderr must be equal.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupDir, tempDir, TSEMU_NBD_BIN, waitForListener } from './helpers.js';

const OPTS_MAGIC = Buffer.from('49484156454f5054', 'hex');
const FLAGS = Buffer.from([0, 0, 0, 3]);

function option(opt: number, length: number): Buffer {
  const b = Buffer.alloc(16);
  OPTS_MAGIC.copy(b);
  b.writeUInt32BE(opt, 8);
  b.writeUInt32BE(length, 12);
  return b;
}

/** Broken handshakes: what the client sends before it hangs up. */
const CASES: [string, Buffer[]][] = [
  ['nothing at all', []],
  ['unknown client flags', [Buffer.from('garbage!')]],
  ['end-of-file inside the option magic', [FLAGS, OPTS_MAGIC.subarray(0, 5)]],
  ['a bad option magic', [FLAGS, Buffer.from('0123456789abcdef', 'hex')]],
  ['end-of-file before the option number', [FLAGS, OPTS_MAGIC]],
  ['end-of-file before the option length', [FLAGS, OPTS_MAGIC, Buffer.from([0, 0, 0, 7])]],
  ['end-of-file inside an export name', [FLAGS, option(1, 10)]],
  ['an export name longer than 4096 bytes', [FLAGS, option(1, 5000)]],
  ['end-of-file inside an INFO payload', [FLAGS, option(7, 100)]],
  ['a clean NBD_OPT_ABORT', [FLAGS, option(2, 0)]],
];

/** Connects, sends the pieces, reads whatever comes back, hangs up after a short pause. */
function session(path: string, pieces: Buffer[]): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(path, () => {
      for (const p of pieces) s.write(p);
      setTimeout(() => s.destroy(), 150);
    });
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => resolve());
  });
}

interface Server { child: ChildProcess; stderr: string; sock: string }

async function start(cmd: string, args: string[], sock: string): Promise<Server> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const server: Server = { child, stderr: '', sock };
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (server.stderr += d));
  await waitForListener(sock, child);
  return server;
}

async function stop(s: Server): Promise<void> {
  if (s.child.exitCode !== null) return;
  const gone = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await gone;
}

let dir: string;
let qemu: Server;
let tsemu: Server;

beforeAll(async () => {
  dir = tempDir('tsemu-nbd-negotiation-');
  const image = join(dir, 'disk.raw');
  writeFileSync(image, Buffer.alloc(1 << 20));
  const args = (sock: string): string[] => ['-f', 'raw', '-t', '-k', sock, image];
  [qemu, tsemu] = await Promise.all([
    start('qemu-nbd', args(join(dir, 'q.sock')), join(dir, 'q.sock')),
    start(process.execPath, [TSEMU_NBD_BIN, ...args(join(dir, 't.sock'))], join(dir, 't.sock')),
  ]);
});

afterAll(async () => {
  await Promise.all([qemu, tsemu].filter(Boolean).map(stop));
  cleanupDir(dir);
});

describe('stderr for failed handshakes, as qemu-nbd 7.2', () => {
  for (const [what, pieces] of CASES) {
    it(what, async () => {
      const before = [qemu.stderr.length, tsemu.stderr.length];
      await Promise.all([session(qemu.sock, pieces), session(tsemu.sock, pieces)]);
      // The server notices the hang-up a moment after the client has gone.
      await new Promise((r) => setTimeout(r, 300));
      const q = qemu.stderr.slice(before[0]);
      const t = tsemu.stderr.slice(before[1]);
      expect(t).toBe(q);
      if (what !== 'a clean NBD_OPT_ABORT') expect(q).toMatch(/^qemu-nbd: option negotiation failed: .+\n$/);
    });
  }
});
