// Helpers for the qcow2 tests: tsemu-img in-process (a spawn costs seconds on
// a loaded box; vitest runs each file in its own process, so chdir is safe),
// and qemu-img / qemu-io / tsemu-io by spawn.
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '@tsemu/qemu-img';
import type { RunResult } from './harness.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
export const TSEMU_IO = join(ROOT, 'node_modules/.bin/tsemu-io');

/** Runs `tsemu-img <args>` in this process with `cwd` as the working directory. */
export async function tsemuImg(args: string[], cwd: string): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const previous = process.cwd();
  process.chdir(cwd);
  try {
    const code = await main(args, {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
    });
    return { stdout, stderr, code };
  } finally {
    process.chdir(previous);
  }
}

export function spawn(bin: string, args: string[], cwd: string): RunResult {
  // check of a badly damaged image can print megabytes (one line per bad cluster): past spawnSync's 1 MiB default.
  const r = spawnSync(bin, args, { cwd, encoding: 'utf8', timeout: 120_000, maxBuffer: 256 << 20 });
  if (r.error) throw r.error;
  return { stdout: r.stdout, stderr: r.stderr, code: r.status ?? -1 };
}

/** qemu-img / qemu-io that must succeed (fixture building). */
export function must(bin: string, args: string[], cwd: string): string {
  const r = spawn(bin, args, cwd);
  if (r.code !== 0) throw new Error(`${bin} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Sets one 16-bit refcount in the first refcount block (for leak / corruption fixtures). */
export function setRefcount16(bytes: Uint8Array, cluster: number, value: number): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tableOffset = Number(dv.getBigUint64(48));
  const block = Number(dv.getBigUint64(tableOffset));
  dv.setUint16(block + cluster * 2, value);
}
