// `reopen -o OPTIONS`: what qemu-io 7.2 accepts (cache.direct, cache.no-flush,
// discard, detect-zeroes, read-only=off, the format's runtime options,
// driver/filename unchanged) works, what it refuses gets its message and
// exit status, and the image stays usable either way. The cache options
// really reach the block layer (checked in process on the open backend).
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandTable, main, Output, Session } from '@tsemu/qemu-io';
import { afterAll, describe, expect, it } from 'vitest';
import { QEMU_IO, TSEMU_IO, maskTimings, run, sha256 } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'tsemu-io-reopen-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const QCOW2 = join(dir, 'base.qcow2');
const RAW = join(dir, 'base.raw');
const V2 = join(dir, 'base-v2.qcow2');
run('qemu-img', ['create', '-q', '-f', 'qcow2', QCOW2, '64M'], dir);
run('qemu-img', ['create', '-q', '-f', 'raw', RAW, '64M'], dir);
run('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'compat=0.10', V2, '64M'], dir);

const QCOW2_CASES = [
  'cache.direct=on', 'cache.direct=off', 'cache.no-flush=on', 'cache.no-flush=yes', 'cache.direct=true', 'cache.direct=n',
  'cache.direct=on,cache.no-flush=on', 'cache.direct=1', 'cache.direct=ON', 'cache.direct=', 'cache.direct=maybe',
  'cache.writeback=off', 'cache=none', 'lazy-refcounts=on', 'lazy-refcounts=maybe', 'foo=bar', 'read-only=off',
  'discard=unmap', 'discard=ignore', 'discard=bogus', 'detect-zeroes=on', 'detect-zeroes=unmap', 'detect-zeroes=x',
  'detect-zeroes=unmap,discard=ignore', 'driver=raw', 'driver=qcow2', 'node-name=n', 'force-share=on',
  'cache.direct=maybe,foo=1', 'foo=1,cache.direct=on', 'foo=1,read-only=maybe', 'discard=bogus,read-only=maybe',
  'detect-zeroes=x,discard=bogus', 'lazy-refcounts=maybe,foo=1', 'driver=raw,foo=1', 'b=1,a=1', 'l2-cache-size=1M', 'l2-cache-size=abc',
  'file.cache.direct=on', 'file.cache.direct=maybe', 'file.cache.direct=on,file.foo=1', 'file.driver=file',
  'file.driver=host_device', 'file.locking=off', 'auto-read-only=on', 'auto-read-only=maybe', 'overlap-check=none',
];

const compare = (image: string, name: string, args: string[]): void => {
  const q = join(dir, `q-${name}`);
  const t = join(dir, `t-${name}`);
  copyFileSync(image, q);
  copyFileSync(image, t);
  const qr = run(QEMU_IO, [...args, q], dir);
  const tr = run(TSEMU_IO, [...args, t], dir);
  expect(tr.stderr.replaceAll(t, 'IMG')).toBe(qr.stderr.replaceAll(q, 'IMG'));
  expect(maskTimings(tr.stdout)).toBe(maskTimings(qr.stdout));
  expect(tr.code).toBe(qr.code);
  expect(sha256(t)).toBe(sha256(q));
};

// After the reopen, a write and a read show whether the image is still open and writable.
const AFTER = ['-c', 'write -q -P 5 0 512', '-c', 'read -q -P 5 0 512'];

describe('reopen -o as qemu-io 7.2', () => {
  it.each(QCOW2_CASES.map((o) => [o]))('qcow2: reopen -o %s', (o) => {
    compare(QCOW2, 'qcow2', ['-c', `reopen -o ${o}`, ...AFTER]);
  });

  it.each([
    ['-c none -o cache.direct=off'], ['-c writeback -o cache.no-flush=on'], ['-r -o read-only=off'], ['-w -o read-only=on'],
    ['-o cache.direct=on -o cache.no-flush=on'], ['-o cache.direct=on -o foo=1'], ['-o'],
  ])('qcow2: reopen %s', (a) => {
    compare(QCOW2, 'qcow2', ['-c', `reopen ${a}`, ...AFTER]);
  });

  it.each([['cache.direct=on'], ['lazy-refcounts=on'], ['foo=1'], ['driver=raw'], ['offset=512']])('raw: reopen -o %s', (o) => {
    compare(RAW, 'raw', ['-f', 'raw', '-c', `reopen -o ${o}`, ...AFTER]);
  });

  it('a refused format option leaves the image open (compat=0.10 and lazy-refcounts=on)', () => {
    compare(V2, 'v2', ['-c', 'reopen -o lazy-refcounts=on', ...AFTER]);
  });

  it('read-only=off makes a read-only image writable, as -w', () => {
    compare(QCOW2, 'ro', ['-r', '-c', 'write -q 0 512', '-c', 'reopen -o read-only=off', ...AFTER]);
  });

  it('read-only=on under a writable backend is refused (QEMU names its anonymous node)', () => {
    const img = join(dir, 'rw.qcow2');
    copyFileSync(QCOW2, img);
    const r = run(TSEMU_IO, ['-c', 'reopen -o read-only=on', ...AFTER, img], dir);
    expect(r.stderr).toMatch(/^qemu-io: Read-only block node '#block\d+' cannot support read-write users\n$/);
    expect(r.code).toBe(1);
  });
});

describe('reopen -o reaches the block layer', () => {
  it('cache.direct and cache.no-flush change the flags; -c resets them to the mode', async () => {
    await main(['--version'], { stdout: { write: () => true }, stderr: { write: () => true } }); // registers the drivers
    const img = join(dir, 'flags.qcow2');
    copyFileSync(QCOW2, img);
    let err = '';
    const io = { stdout: { write: () => true }, stderr: { write: (s: string) => ((err += s), true) } };
    const s = new Session(new Output(io), commandTable());
    expect(await s.runLine(`open -o driver=qcow2 ${img}`)).toBe(0);
    expect(s.blk!.cacheFlags).toEqual({ writeback: false, direct: false, noFlush: false });
    expect(await s.runLine('reopen -o cache.direct=on,cache.no-flush=on')).toBe(0);
    expect(s.blk!.cacheFlags).toEqual({ writeback: false, direct: true, noFlush: true });
    expect(s.blk!.info().hostCacheBypass).not.toBe('none');
    // A later reopen keeps them; a refused one changes nothing.
    expect(await s.runLine('reopen -o foo=1')).toBeLessThan(0);
    expect(err).toBe("qemu-io: Cannot change the option 'foo'\n");
    expect(await s.runLine('reopen -o discard=ignore')).toBe(0);
    expect(s.blk!.cacheFlags).toEqual({ writeback: false, direct: true, noFlush: true });
    expect(await s.runLine('reopen -c writeback')).toBe(0);
    expect(s.blk!.cacheFlags).toEqual({ writeback: true, direct: false, noFlush: false });
    expect(await s.runLine('write -q -P 9 0 4k')).toBe(0);
    expect(await s.runLine('read -q -P 9 0 4k')).toBe(0);
    await s.close();
  });
});
