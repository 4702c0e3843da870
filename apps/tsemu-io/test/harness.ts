// Runs tsemu-io (the real bin) and qemu-io side by side on identical images.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The workspace's installed bin, wherever the checkout lives (CI clones elsewhere).
export const TSEMU_IO = fileURLToPath(new URL('../../../node_modules/.bin/tsemu-io', import.meta.url));
export const QEMU_IO = 'qemu-io';

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

export function run(bin: string, args: string[], cwd: string, input?: string, env?: NodeJS.ProcessEnv): RunResult {
  const r = spawnSync(bin, args, { cwd, input: input ?? '', encoding: 'utf8', timeout: 60_000, ...(env && { env }) });
  return { stdout: r.stdout, stderr: r.stderr, code: r.status };
}

/** qemu-img's view of a file's holes and data (SEEK_DATA / SEEK_HOLE), to judge sparseness the same way for both outputs. */
export function qemuMap(path: string): string {
  return run('qemu-img', ['map', '--output=json', '-f', 'raw', path], '/').stdout;
}

/** Masks what varies run to run: the time and rates in report lines, and -C lines. */
export function maskTimings(text: string): string {
  return text
    .replace(/^(.+, \d+ ops; )\S+( sec)? \(\S+ \S+\/sec and \S+ ops\/sec\)$/gm, '$1TIME (RATE/sec and OPS ops/sec)')
    .replace(/^(\d+),(\d+),\d+:\d\d:\d\d\.\d\d,[\d.]+,[\d.]+$/gm, '$1,$2,TIME,RATE,OPS');
}

export const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** A temp dir with one subdir per tool, each holding `files` (name -> contents). */
export class TwinDirs {
  readonly root = mkdtempSync(join(tmpdir(), 'tsemu-io-test-'));
  readonly ours = join(this.root, 'ours');
  readonly theirs = join(this.root, 'theirs');

  constructor(files: Record<string, Uint8Array>) {
    for (const dir of [this.ours, this.theirs]) {
      mkdirSync(dir);
      for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
    }
  }

  both(args: string[], input?: string): { ours: RunResult; theirs: RunResult } {
    return { ours: run(TSEMU_IO, args, this.ours, input), theirs: run(QEMU_IO, args, this.theirs, input) };
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** A deterministic non-trivial image: byte i = (i * 7 + i >> 9) & 0xff. */
export function seededImage(size: number): Uint8Array {
  const buf = new Uint8Array(size);
  for (let i = 0; i < size; i++) buf[i] = (i * 7 + (i >> 9)) & 0xff;
  return buf;
}
