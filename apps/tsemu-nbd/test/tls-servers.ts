// Plumbing for the TLS side-by-side tests: the real qemu-nbd and tsemu-nbd
// (main() in this process) serving the same image on unix sockets, each
// server's stderr kept so the lines it prints for refused clients can be
// compared, and async runs of the real clients.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '@tsemu/qemu-nbd';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Runs a program without blocking the event loop (a server lives in this process). */
export function run(cmd: string, args: string[], timeout = 30_000): Promise<RunResult> {
  return new Promise((done) => {
    execFile(cmd, args, { timeout, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

/** tsemu-nbd's main() in this process with the same argv; stderr and stdout as text, exit status. */
export async function runTsemuNbd(args: string[]): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } });
  return { code, stdout, stderr };
}

async function waitFor(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Whether a unix socket is listening, from /proc/net/unix (flag
 * __SO_ACCEPTCON), so no probe connection shows up in qemu-nbd's stderr.
 */
function listening(path: string): boolean {
  return readFileSync('/proc/net/unix', 'utf8').split('\n').some((l) => {
    const f = l.trim().split(/\s+/);
    return f[7] === path && (parseInt(f[3] ?? '0', 16) & 0x10000) !== 0;
  });
}

/** A server of either kind listening on `socket`, with what it printed on stderr. */
export interface Served {
  readonly socket: string;
  stderr(): string;
  /** Resolves once stderr holds `n` lines (refused clients are reported after they are dropped). */
  linesAtLeast(n: number): Promise<string[]>;
  stop(): Promise<void>;
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

/** The real qemu-nbd 7.2 with `args` (-k added). */
export async function serveQemu(socket: string, args: string[]): Promise<Served> {
  const child: ChildProcess = spawn('qemu-nbd', [...args, '-k', socket], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (err += d));
  await waitFor(() => child.exitCode !== null || listening(socket), `qemu-nbd on ${socket}`);
  if (child.exitCode !== null) throw new Error(`qemu-nbd exited ${child.exitCode}: ${err}`);
  return {
    socket,
    stderr: () => lines(err).join('\n'),
    linesAtLeast: async (n) => {
      await waitFor(() => lines(err).length >= n, `${n} lines from qemu-nbd`);
      return lines(err);
    },
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

/** tsemu-nbd (main() in this process) with `args` (-k added). */
export async function serveTsemu(socket: string, args: string[]): Promise<Served> {
  const abort = new AbortController();
  let err = '';
  let listening!: () => void;
  const ready = new Promise<void>((r) => (listening = r));
  const exit = main([...args, '-k', socket], {
    stdout: { write: () => true },
    stderr: { write: (t: string) => (err += t) },
    signal: abort.signal,
    onListening: () => listening(),
  });
  const first = await Promise.race([ready.then(() => undefined), exit]);
  if (typeof first === 'number') throw new Error(`tsemu-nbd exited ${first}: ${err}`);
  return {
    socket,
    stderr: () => lines(err).join('\n'),
    linesAtLeast: async (n) => {
      await waitFor(() => lines(err).length >= n, `${n} lines from tsemu-nbd`);
      return lines(err);
    },
    stop: async () => {
      abort.abort();
      await exit;
    },
  };
}
