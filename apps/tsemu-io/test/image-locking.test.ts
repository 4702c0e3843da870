// Image locking against the real tools: while qemu-io, or tsemu-io, keeps a
// qcow2 image (and its backing file) open read-write, every tool must refuse
// the same opens with the same words and exit status, whoever holds it. This
// is what stops `tsemu-img convert img img` or `qemu-img info` from reading a
// running guest's image, and a tsemu-io writer from corrupting one QEMU uses.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QEMU_IO, TSEMU_IO, maskTimings, run } from './harness.js';

const TSEMU_IMG = fileURLToPath(new URL('../../../node_modules/.bin/tsemu-img', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'tsemu-io-lock-'));
let holder: ChildProcess | null = null;

beforeAll(() => {
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', 'base.qcow2', '1M'], { cwd: root });
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'img.qcow2'], { cwd: root });
  writeFileSync(join(root, 'plain.raw'), new Uint8Array(1 << 20));
});
afterEach(async () => {
  if (holder) {
    const h = holder;
    holder = null;
    const exited = h.exitCode !== null || h.signalCode !== null ? Promise.resolve() : new Promise((resolve) => h.once('exit', resolve));
    h.stdin?.end('quit\n');
    await exited;
  }
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * Starts an interactive tool on img.qcow2 and waits for its first prompt,
 * which it prints once the image is open and locked. (Probing with qemu-img
 * info raced with the holder's own open: info's read-only open denies
 * writers for a moment, and a holder opening just then failed, on a loaded
 * machine.)
 */
async function holdWith(bin: string): Promise<void> {
  const h = spawn(bin, ['img.qcow2'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  holder = h;
  let stdout = '';
  let stderr = '';
  h.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    h.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('qemu-io> ')) resolve();
    });
    h.once('exit', () => reject(new Error(`${bin} exited before it held img.qcow2: ${stderr}`)));
  });
}

// [qemu tool, tsemu tool, arguments]: each is run through both tools and must give the same result.
const IMG = ['qemu-img', TSEMU_IMG] as const;
const IO = [QEMU_IO, TSEMU_IO] as const;
const CASES: [readonly [string, string], string[]][] = [
  [IMG, ['info', 'img.qcow2']],
  [IMG, ['info', '-U', 'img.qcow2']],
  [IMG, ['check', 'img.qcow2']],
  [IMG, ['convert', '-O', 'raw', 'img.qcow2', 'out.raw']],
  [IMG, ['convert', '-f', 'raw', '-O', 'qcow2', 'plain.raw', 'img.qcow2']],
  [IMG, ['create', '-f', 'raw', 'base.qcow2', '1M']],
  [IO, ['-c', 'read 0 512', 'img.qcow2']],
  [IO, ['-r', '-c', 'read 0 512', 'img.qcow2']],
  [IO, ['-U', '-r', '-c', 'read 0 512', 'img.qcow2']],
  [IO, ['-c', 'write 0 512', 'base.qcow2']],
  [IO, ['-r', '-c', 'read 0 512', 'base.qcow2']],
  [IO, ['-f', 'raw', '-c', 'read 0 512', 'img.qcow2']],
];

const outcome = (bin: string, args: string[]) => {
  const r = run(bin, args, root);
  return { stdout: maskTimings(r.stdout), stderr: r.stderr, code: r.code };
};

describe.each([['qemu-io', QEMU_IO], ['tsemu-io', TSEMU_IO]])('while %s holds img.qcow2 read-write', (_name, holderBin) => {
  it('every open gets the same answer from the qemu and the tsemu tool', async () => {
    await holdWith(holderBin);
    for (const [[qemu, tsemu], args] of CASES) {
      const theirs = outcome(qemu, args);
      const ours = outcome(tsemu, args);
      expect(ours, `${tsemu} ${args.join(' ')}`).toEqual(theirs);
    }
    // The refusals really happened (the holder was alive throughout).
    expect(outcome('qemu-img', ['info', 'img.qcow2']).stderr).toBe(
      "qemu-img: Could not open 'img.qcow2': Failed to get shared \"write\" lock\nIs another process using the image [img.qcow2]?\n",
    );
    expect(outcome(TSEMU_IO, ['-c', 'write 0 512', 'base.qcow2']).stderr).toBe(
      'qemu-io: can\'t open device base.qcow2: Failed to get "write" lock\nIs another process using the image [base.qcow2]?\n',
    );
  });
});

it('once the holder is gone, the image opens again', () => {
  expect(run(TSEMU_IO, ['-c', 'write -P 7 0 512', 'img.qcow2'], root).code).toBe(0);
  expect(run('qemu-img', ['check', 'img.qcow2'], root).code).toBe(0);
});
