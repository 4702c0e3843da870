// Data written by one tool is read back, pattern-verified, by the other, in
// every cache mode; both directions must also leave identical image files.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { QEMU_IO, TSEMU_IO, run, sha256 } from './harness.js';

const c = (...cmds: string[]): string[] => cmds.flatMap((cmd) => ['-c', cmd]);

const WRITES = c(
  'write -P 0x11 0 64k', 'writev -P 0x22 64k 4k 4k 8k', 'aio_write -P 0x33 1M 128k', 'aio_write -P 0x44 2M 512',
  'aio_flush', 'write -z 3M 64k', 'write -f -P 0x55 3584k 4k', 'write -P 0x66 100 1000', 'flush',
);
const CHECKS = c(
  'read -P 0x11 0 100', 'read -P 0x66 100 1000', 'read -P 0x11 1100 64436', 'readv -P 0x22 64k 8k 8k',
  'read -P 0x33 1M 128k', 'read -P 0x44 2M 512', 'read -P 0 3M 64k', 'read -P 0x55 3584k 4k', 'read -P 0xee 4092k 4k',
);
const MODES = ['writeback', 'writethrough', 'directsync', 'none', 'unsafe'];

describe('interop with qemu-io in every cache mode', () => {
  const root = mkdtempSync(join(tmpdir(), 'tsemu-io-interop-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const image = (name: string): string => {
    const path = join(root, name);
    writeFileSync(path, new Uint8Array(4 << 20).fill(0xee));
    return path;
  };

  for (const mode of MODES) {
    it(`cache=${mode}: tsemu-io writes, qemu-io verifies, and the reverse`, () => {
      const ours = image(`ours-${mode}.raw`);
      const theirs = image(`theirs-${mode}.raw`);
      const w1 = run(TSEMU_IO, ['-f', 'raw', '-t', mode, ...WRITES, ours], root);
      expect(w1.stderr).toBe('');
      expect(w1.code).toBe(0);
      const r1 = run(QEMU_IO, ['-f', 'raw', '-t', mode, ...CHECKS, ours], root);
      expect(r1.stdout).not.toContain('verification failed');
      expect(r1.code).toBe(0);

      const w2 = run(QEMU_IO, ['-f', 'raw', '-t', mode, ...WRITES, theirs], root);
      expect(w2.code).toBe(0);
      const r2 = run(TSEMU_IO, ['-f', 'raw', '-t', mode, ...CHECKS, theirs], root);
      expect(r2.stdout).not.toContain('verification failed');
      expect(r2.stdout.match(/^read /gm)).toHaveLength(9);
      expect(r2.code).toBe(0);

      expect(sha256(ours)).toBe(sha256(theirs));
    });
  }

  it('a wrong pattern is caught by both readers (the checks can fail)', () => {
    const path = image('wrong.raw');
    for (const bin of [TSEMU_IO, QEMU_IO]) {
      const r = run(bin, ['-f', 'raw', '-n', '-c', 'read -P 0x11 0 4k', path], root);
      expect(r.stdout).toContain('Pattern verification failed at offset 0, 4096 bytes');
      expect(r.code).toBe(1);
    }
  });
});
