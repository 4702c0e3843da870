// qemu-io's `info` side by side: it prints the format name, then fails
// (exit 1, no message) where bdrv_get_info has no answer: null-co, and raw
// over nbd; raw over a file and over blkdebug answer with zeros.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startQemuNbd } from '../../../packages/block-nbd/test/tls-fixtures.js';
import { QEMU_IO, TSEMU_IO, run } from './harness.js';

const root = mkdtempSync(join(tmpdir(), 'tsemu-io-info-'));
const servers: ChildProcess[] = [];
let nbdPort = 0;

beforeAll(async () => {
  writeFileSync(join(root, 'disk.raw'), new Uint8Array(1 << 20));
  nbdPort = await startQemuNbd(['-f', 'raw', '-t', '-r', join(root, 'disk.raw')], servers);
});
afterAll(() => {
  for (const s of servers) s.kill();
  rmSync(root, { recursive: true, force: true });
});

const blkdebug = (file: string): string =>
  `json:{"driver":"raw","file":{"driver":"blkdebug","image":{"driver":"file","filename":"${file}"}}}`;

describe('qemu-io info', () => {
  const cases: [string, () => string[]][] = [
    ['raw over file', () => ['-f', 'raw', '-c', 'info', 'disk.raw']],
    ['file protocol', () => ['-f', 'file', '-c', 'info', 'disk.raw']],
    ['raw over blkdebug', () => ['-c', 'info', blkdebug('disk.raw')]],
    ['null-co, then a read', () => ['-f', 'null-co', '-c', 'info', '-c', 'read 0 512', 'null-co://']],
    ['probed raw over null-co', () => ['-c', 'info', '-c', 'info', 'null-co://']],
    ['raw over nbd (read-only)', () => ['-r', '-f', 'raw', '-c', 'info', `nbd://127.0.0.1:${nbdPort}`]],
  ];
  for (const [name, args] of cases) {
    it(`${name}: same output and exit status`, () => {
      const theirs = run(QEMU_IO, args(), root);
      const ours = run(TSEMU_IO, args(), root);
      const mask = (t: string): string => t.replace(/\(.*\/sec and .* ops\/sec\)/, '(RATE)');
      expect(mask(ours.stdout)).toBe(mask(theirs.stdout));
      expect(ours.stderr).toBe(theirs.stderr);
      expect(ours.code).toBe(theirs.code);
    });
  }
});

it('a read-only export opened read-write fails in qemu-io 7.2 words', () => {
  const args = ['-f', 'raw', '-c', 'read 0 512', `nbd://127.0.0.1:${nbdPort}`];
  const ours = run(TSEMU_IO, args, root);
  expect(ours.stderr).toBe(run(QEMU_IO, args, root).stderr);
  expect(ours.stderr).toContain('Could not open image: Permission denied');
  expect(ours.code).toBe(1);
});
