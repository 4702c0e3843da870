// Command lines run through qemu-io 7.2 and tsemu-io on twin copies of the
// same images: stdout (rates and times masked), stderr, exit status and the
// resulting image files must be equal. A table of the corners a differential
// sweep turned up: option letters qemu-io's getopt refuses although its usage
// line shows them, signal numbers past NSIG, verbose dumps, pattern windows.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { QEMU_IO, TSEMU_IO, TwinDirs, run, sha256 } from './harness.js';

const IMAGES = ['img.qcow2', 'img.raw', 'odd.raw'];
let dirs: TwinDirs;

beforeAll(() => {
  // odd.raw: 1000 bytes, so the image's last sector runs past the file's end.
  dirs = new TwinDirs({ 'img.raw': new Uint8Array(4 << 20), 'odd.raw': new Uint8Array(1000).map((_, i) => (i * 13 + 1) & 0xff) });
  for (const dir of [dirs.ours, dirs.theirs]) {
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', 'img.qcow2', '4M'], { cwd: dir });
    execFileSync('qemu-io', ['-c', 'write -P 0x61 0 64k', '-c', 'write -P 0x62 1M 4k', 'img.qcow2'], { cwd: dir, stdio: 'ignore' });
  }
});
afterAll(() => dirs.cleanup());

const mask = (text: string): string =>
  text.replace(/\d+(\.\d+)? ((K|M|G|T)iB|bytes)\/sec and \d+(\.\d+)? ops\/sec/g, 'RATE').replace(/\d\d\.\d\d sec/g, 'T sec')
    .replace(/^(\d+),(\d+),[\d:.]+,[\d.]+,[\d.]+$/gm, '$1,$2,TIME')
    // aio_write -z reports the monotonic clock (qemu-io 7.2 never takes its start time): hours, minutes, seconds.
    .replace(/; \d+:\d\d:\d\d\.\d\d \(/g, '; CLOCK (');

const CASES: string[][] = [
  ['-f', 'raw', '-c', 'read -a 0 512', 'img.raw'],
  ['-f', 'raw', '-c', 'read -c 0 512', 'img.raw'],
  ['-f', 'raw', '-c', 'read -c 5 0 512', 'img.raw'],
  ['-f', 'raw', '-c', 'read -p -b 0 512', 'img.raw'],
  ['-f', 'raw', '-c', 'sigraise 66', '-c', 'length', 'img.raw'],
  ['-f', 'raw', '-c', 'sigraise 65', '-c', 'length', 'img.raw'],
  ['-f', 'raw', '-c', 'sigraise -1', 'img.raw'],
  ['-c', 'read -v 65520 40', 'img.qcow2'],
  ['-c', 'read -s 0x10 -l 0x20 -P 0x61 0 64k', 'img.qcow2'],
  ['-c', 'read -P 0x61 -s 10 -l 100000 0 64k', 'img.qcow2'],
  ['-c', 'readv -v 0 16 16', 'img.qcow2'],
  ['-c', 'write -c 1000 64k', 'img.qcow2'],
  ['-c', 'write -z -c 0 64k', '-c', 'map', 'img.qcow2'],
  ['-c', 'alloc 1 100', '-c', 'alloc 3M 2M', 'img.qcow2'],
  ['-c', 'truncate -m foo 8M', 'img.qcow2'],
  ['-c', 'truncate -m full 8M', '-c', 'length', 'img.qcow2'],
  ['-c', 'truncate 8M 1', '-c', 'length', 'img.qcow2'],
  ['-c', 'truncate 8M 1 2', '-c', 'length', 'img.qcow2'],
  ['-c', 'aio_write -z 0 4k', '-c', 'aio_flush', '-c', 'map', 'img.qcow2'],
  ['-c', 'aio_write -C -z 0 4k', '-c', 'aio_flush', 'img.qcow2'],
  // reopen -o through qcow2's runtime options; a child (data-file) and options QEMU 7.2 lacks cannot change.
  ['-c', 'reopen -o overlap-check=bogus', 'img.qcow2'],
  ['-c', 'reopen -o cache-size=1M,l2-cache-size=2M', 'img.qcow2'],
  ['-c', 'reopen -o encrypt.format=luks', 'img.qcow2'],
  ['-c', 'reopen -o data-file=x', 'img.qcow2'],
  ['-c', 'reopen -o discard-no-unref=on', 'img.qcow2'],
  ['-f', 'raw', '-c', 'write -P 5 -s /etc/hostname 0 8', 'img.raw'],
  ['-f', 'raw', '-c', 'read -P 0 -s 600 -l 1 0 512', 'img.raw'],
  ['-f', 'raw', '-c', 'close', '-c', 'open -d bogus img.raw', 'img.raw'],
  ['-f', 'raw', '-c', 'reopen -r -w', 'img.raw'],
  ['-f', 'raw', '-c', 'map', '-c', 'length', '-c', 'read -v 992 32', 'odd.raw'],
  // info on drivers with a protocol name (both names printed) and a filter answering with its image's info.
  ['-c', 'info', '--image-opts', 'driver=blkdebug,image.filename=img.qcow2'],
  ['-c', 'info', '--image-opts', 'driver=blkdebug,image.driver=qcow2,image.file.filename=img.qcow2'],
  ['-c', 'info', '--image-opts', 'driver=blkdebug,image.driver=null-co'],
  ['-c', 'info', '--image-opts', 'driver=qcow2,file.driver=blkdebug,file.image.filename=img.qcow2'],
];

describe('qemu-io command lines, side by side', () => {
  for (const args of CASES) {
    it(args.join(' '), () => {
      const { ours, theirs } = dirs.both(args);
      expect(mask(ours.stdout)).toBe(mask(theirs.stdout));
      expect(ours.stderr).toBe(theirs.stderr);
      expect(ours.code).toBe(theirs.code);
      for (const image of IMAGES) expect(sha256(join(dirs.ours, image)), image).toBe(sha256(join(dirs.theirs, image)));
    });
  }
});

it('runs both tools (the table is not vacuous)', () => {
  expect(run(QEMU_IO, ['-f', 'raw', '-c', 'length', 'img.raw'], dirs.theirs).stdout).toBe('4 MiB\n');
  expect(run(TSEMU_IO, ['-f', 'raw', '-c', 'length', 'img.raw'], dirs.ours).stdout).toBe('4 MiB\n');
});
