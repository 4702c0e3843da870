// Test plumbing: temp dirs, real peer processes (qemu-nbd, nbdkit) on unix
// sockets or 127.0.0.1 ports, all killed again by cleanup().
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function waitFor(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Resolves once a unix socket listens (the file appears at bind(), before
 * listen()). Read from /proc/net/unix (flag __SO_ACCEPTCON) rather than by
 * connecting: a probe client would end a qemu-nbd run without -t.
 */
export async function waitForListener(path: string, server?: ChildProcess, ms = 10_000): Promise<void> {
  const listening = (): boolean => readFileSync('/proc/net/unix', 'utf8').split('\n').some((l) => {
    const f = l.trim().split(/\s+/);
    return f[7] === path && (parseInt(f[3] ?? '0', 16) & 0x10000) !== 0;
  });
  // A server that exits early (bad arguments) ends the wait; its caller checks why.
  const exited = (): boolean => server !== undefined && (server.exitCode !== null || server.signalCode !== null);
  await waitFor(() => exited() || listening(), `a listener on ${path}`, ms);
}

/** A free TCP port on 127.0.0.1 (bound and released; the tiny race is acceptable in tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program without blocking the event loop (servers may live in this process). */
export function run(cmd: string, args: string[], opts: { cwd?: string; timeout?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd, timeout: opts.timeout ?? 30_000, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Background peers started by a test file; stop() kills them all. */
export class Peers {
  private readonly children: ChildProcess[] = [];

  start(cmd: string, args: string[]): ChildProcess {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.setEncoding('utf8');
    let err = '';
    child.stderr?.on('data', (d: string) => (err += d));
    (child as ChildProcess & { stderrText: () => string }).stderrText = () => err;
    this.children.push(child);
    return child;
  }

  /** qemu-nbd on a unix socket; resolves once the socket exists. */
  async qemuNbd(socket: string, args: string[]): Promise<ChildProcess> {
    const child = this.start('qemu-nbd', ['-k', socket, ...args]);
    await waitForListener(socket, child);
    if (child.exitCode !== null) throw new Error(`qemu-nbd exited ${child.exitCode}`);
    return child;
  }

  /** nbdkit in the foreground on a unix socket. */
  async nbdkit(socket: string, args: string[]): Promise<ChildProcess> {
    const child = this.start('nbdkit', ['-f', '--exit-with-parent', '-U', socket, ...args]);
    await waitForListener(socket, child);
    if (child.exitCode !== null) throw new Error(`nbdkit exited ${child.exitCode}`);
    return child;
  }

  async stop(): Promise<void> {
    await Promise.all(this.children.splice(0).map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    })));
  }
}

export function cleanupDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A deterministic byte pattern for offset-checked data. */
export function pattern(length: number, seed: number): Uint8Array {
  const b = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}
