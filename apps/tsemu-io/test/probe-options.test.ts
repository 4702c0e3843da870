// Options given with a probed image (no driver=): they belong to the format
// node QEMU puts on top, which takes its own (l2-cache-size) and refuses the
// rest ("Block format 'qcow2' does not support the option 'foo'"); tsemu used
// to drop them silently.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QEMU_IO, TSEMU_IO, maskTimings, run } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'tsemu-io-probe-opts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(() => {
  expect(spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, 'a.qcow2'), '1M']).status).toBe(0);
  expect(spawnSync('qemu-img', ['create', '-q', '-f', 'raw', join(dir, 'a.raw'), '1M']).status).toBe(0);
});

describe('open -o on a probed image', () => {
  it.each([
    ['a.qcow2', 'foo=1'], ['a.qcow2', 'locking=off'], ['a.qcow2', 'l2-cache-size=1M'], ['a.qcow2', 'file.locking=off'],
    ['a.raw', 'foo=1'],
  ])('%s with -o %s: as qemu-io', (image, option) => {
    const args = ['-r', '-c', `open -r -o ${option} ${image}`, '-c', 'read 0 1'];
    const q = run(QEMU_IO, args, dir);
    const t = run(TSEMU_IO, args, dir);
    expect(maskTimings(t.stdout)).toBe(maskTimings(q.stdout));
    expect(t.stderr).toBe(q.stderr);
    expect(t.code).toBe(q.code);
  });
});

describe('--image-opts with a bare word', () => {
  it.each([['a.raw'], ['driver=raw,a.raw'], ['driver=file,filename=a.raw,foo']])('%s: qemu-io\'s warning and refusal', (opts) => {
    const args = ['--image-opts', '-c', 'read 0 1', opts];
    const q = run(QEMU_IO, args, dir);
    const t = run(TSEMU_IO, args, dir);
    expect(t.stderr).toBe(q.stderr);
    expect(t.stderr).toContain("warning: short-form boolean option '");
    expect(t.code).toBe(q.code);
  });
});

describe('open -o / reopen -o with a short-form boolean', () => {
  it.each([
    [['-c', 'open -o cache.direct a.qcow2', '-c', 'read 0 1']],
    [['-c', 'reopen -o cache.direct,cache.no-flush', '-c', 'read 0 1', 'a.qcow2']],
  ])('%j: qemu-io\'s deprecation warning, then the option on', (args) => {
    const q = run(QEMU_IO, args, dir);
    const t = run(TSEMU_IO, args, dir);
    expect(t.stderr).toBe(q.stderr);
    expect(t.stderr).toContain("qemu-io: warning: short-form boolean option 'cache.direct' deprecated\nPlease use cache.direct=on instead\n");
    expect(maskTimings(t.stdout)).toBe(maskTimings(q.stdout));
    expect(t.code).toBe(q.code);
  });
});
