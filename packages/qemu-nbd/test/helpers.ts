// Test plumbing for the server: an in-process tsemu-nbd (main() with an
// AbortSignal), the app binary as a child process, async runs of the real
// clients (qemu-io, qemu-img, nbdinfo, nbdcopy), all cleaned up by the caller.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main, type NbdListenAddress } from '../src/index.js';
import { waitForListener } from '../../block-nbd/test/helpers.js';

export { waitForListener };

export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
export const TSEMU_NBD_BIN = join(ROOT, 'apps/tsemu-nbd/bin/tsemu-nbd.js');

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function cleanupDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program without blocking the event loop (the server may live in this process). */
export function run(cmd: string, args: string[], opts: { cwd?: string; timeout?: number } = {}): Promise<RunResult> {
  return new Promise((done) => {
    execFile(cmd, args, { cwd: opts.cwd, timeout: opts.timeout ?? 30_000, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

export function runTsemuNbd(args: string[], opts: { cwd?: string; timeout?: number } = {}): Promise<RunResult> {
  return run(process.execPath, [TSEMU_NBD_BIN, ...args], opts);
}

export async function waitFor(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** tsemu-nbd running inside this process via main(). */
export class InProcessServer {
  private readonly abort = new AbortController();
  readonly stderr: string[] = [];
  exit!: Promise<number>;
  address!: NbdListenAddress;

  static async start(args: string[]): Promise<InProcessServer> {
    const s = new InProcessServer();
    let listening!: (a: NbdListenAddress) => void;
    const ready = new Promise<NbdListenAddress>((r) => (listening = r));
    s.exit = main(args, {
      stdout: { write: () => true },
      stderr: { write: (t: string) => s.stderr.push(t) },
      signal: s.abort.signal,
      onListening: listening,
    });
    const first = await Promise.race([ready, s.exit.then((code) => code)]);
    if (typeof first === 'number') throw new Error(`server exited ${first}: ${s.stderr.join('')}`);
    s.address = first;
    return s;
  }

  get uriBase(): string {
    const a = this.address;
    return a.type === 'unix' ? `nbd+unix:///` : `nbd://${a.host}:${a.port}/`;
  }

  /** URI for an export name. */
  uri(exportName = ''): string {
    const a = this.address;
    return a.type === 'unix' ? `nbd+unix:///${exportName}?socket=${a.path}` : `nbd://${a.host}:${a.port}/${exportName}`;
  }

  async stop(): Promise<number> {
    this.abort.abort();
    return this.exit;
  }
}

/** tsemu-nbd as a child process (the app binary). */
export class ChildServer {
  readonly child: ChildProcess;
  stderr = '';

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [TSEMU_NBD_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (d: string) => (this.stderr += d));
  }

  async waitForSocket(path: string): Promise<void> {
    await waitForListener(path, this.child);
    if (this.child.exitCode !== null) throw new Error(`tsemu-nbd exited ${this.child.exitCode}: ${this.stderr}`);
  }

  exited(): Promise<number> {
    if (this.child.exitCode !== null) return Promise.resolve(this.child.exitCode);
    return new Promise((r) => this.child.once('exit', (code) => r(code ?? -1)));
  }

  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = this.exited();
    this.child.kill('SIGTERM');
    await gone;
  }
}

/** A deterministic byte pattern. */
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

export interface MapEntry { start: number; length: number; data: boolean; zero: boolean }

/** qemu-img map of anything qemu-img can open, merged by (data, zero). */
export async function qemuImgMap(target: string, format = 'raw'): Promise<MapEntry[]> {
  const r = await run('qemu-img', ['map', '--output=json', '-f', format, target]);
  if (r.code !== 0) throw new Error(`qemu-img map ${target}: ${r.stderr}`);
  return merge((JSON.parse(r.stdout) as MapEntry[]).map(({ start, length, data, zero }) => ({ start, length, data, zero })));
}

export function merge(entries: MapEntry[]): MapEntry[] {
  const out: MapEntry[] = [];
  for (const e of entries) {
    const last = out[out.length - 1];
    if (last && last.data === e.data && last.zero === e.zero && last.start + last.length === e.start) last.length += e.length;
    else out.push({ ...e });
  }
  return out;
}

/** nbdinfo --map output ("offset length type description") as map entries. */
export function parseNbdinfoMap(text: string): MapEntry[] {
  return merge(text.trim().split('\n').map((line) => {
    const [start, length, type] = line.trim().split(/\s+/).map(Number) as [number, number, number];
    return { start, length, data: (type & 1) === 0, zero: (type & 2) !== 0 };
  }));
}

/**
 * Starts the real qemu-nbd on a unix socket (`-k sock` appended) in `cwd` and
 * waits for the socket; the handle stops it with SIGTERM.
 */
export async function startQemuNbdUnix(args: string[], sock: string, cwd: string): Promise<{ stop(): Promise<void> }> {
  const child: ChildProcess = spawn('qemu-nbd', [...args, '-k', sock], { cwd, stdio: 'ignore' });
  await waitForListener(sock, child);
  return {
    stop: async () => {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
