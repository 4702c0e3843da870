// Bad input: one line of error in qemu-io's words, qemu-io's exit status, no
// stack trace, and the image left exactly as it was.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TSEMU_IO, run, seededImage, sha256 } from './harness.js';

interface BadCase {
  name: string;
  args: string[];
  /** The whole of what is printed (stdout + stderr), one line. */
  message: string;
  stream: 'stdout' | 'stderr';
}

const CASES: BadCase[] = [
  { name: 'unknown command', args: ['-f', 'raw', '-c', 'bogus', 'img.raw'], message: 'command "bogus" not found', stream: 'stderr' },
  { name: 'bad pattern', args: ['-f', 'raw', '-c', 'write -P 0xzz 0 512', 'img.raw'], message: '0xzz is not a valid pattern byte', stream: 'stdout' },
  {
    name: 'non-numeric offset', args: ['-f', 'raw', '-c', 'write abc 512', 'img.raw'],
    message: 'Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- abc', stream: 'stdout',
  },
  {
    name: 'non-numeric length', args: ['-f', 'raw', '-c', 'write 0 12x', 'img.raw'],
    message: 'Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- 12x', stream: 'stdout',
  },
  {
    name: 'negative offset (taken as an option, as getopt does)', args: ['-f', 'raw', '-c', 'discard -- -1 512', 'img.raw'],
    message: 'Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- -1', stream: 'stdout',
  },
  {
    name: 'negative length', args: ['-f', 'raw', '-c', 'alloc 0 -512', 'img.raw'],
    message: 'Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- -512', stream: 'stdout',
  },
  { name: 'read past the end', args: ['-f', 'raw', '-c', 'read 1M 512', 'img.raw'], message: 'read failed: Input/output error', stream: 'stdout' },
  { name: 'write past the end', args: ['-f', 'raw', '-c', 'write 1023k 2k', 'img.raw'], message: 'write failed: Input/output error', stream: 'stdout' },
  { name: 'write to a read-only image', args: ['-f', 'raw', '-r', '-c', 'write 0 512', 'img.raw'], message: 'qemu-io: Block node is read-only', stream: 'stderr' },
  {
    name: 'unknown format', args: ['-f', 'bogus', '-c', 'write 0 512', 'img.raw'],
    message: "qemu-io: can't open device img.raw: Unknown driver 'bogus'", stream: 'stderr',
  },
  {
    name: 'missing file', args: ['-f', 'raw', '-c', 'write 0 512', 'missing.raw'],
    message: "qemu-io: can't open device missing.raw: Could not open 'missing.raw': No such file or directory", stream: 'stderr',
  },
  { name: 'unknown -t mode', args: ['-t', 'bogus', '-c', 'write 0 512', 'img.raw'], message: 'qemu-io: Invalid cache option: bogus', stream: 'stderr' },
];

describe('bad input leaves the image alone', () => {
  const root = mkdtempSync(join(tmpdir(), 'tsemu-io-bad-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  for (const tc of CASES) {
    it(tc.name, () => {
      const img = join(root, 'img.raw');
      writeFileSync(img, seededImage(1 << 20));
      const before = sha256(img);
      const r = run(TSEMU_IO, tc.args, root);
      expect(r[tc.stream]).toBe(`${tc.message}\n`);
      expect(r[tc.stream === 'stdout' ? 'stderr' : 'stdout']).toBe('');
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(r.code).toBe(1);
      expect(sha256(img)).toBe(before);
    });
  }

  it('a reader that goes away (| head) ends output quietly, and later commands still run', async () => {
    const img = join(root, 'img.raw');
    writeFileSync(img, seededImage(1 << 20));
    const child = spawn(TSEMU_IO, ['-f', 'raw', '-c', 'read -v 0 1M', '-c', 'write -P 0x77 0 1', img], { cwd: root });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(readFileSync(img)[0]).toBe(0x77);
  });
});
