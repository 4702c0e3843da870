// tsemu-io against the real qemu-io 7.2 on the same raw images: stdout (with
// timings masked), stderr, exit status and the resulting image must match.
import { afterAll, describe, expect, it } from 'vitest';
import { TwinDirs, maskTimings, seededImage, sha256 } from './harness.js';
import { join } from 'node:path';

const c = (...cmds: string[]): string[] => cmds.flatMap((cmd) => ['-c', cmd]);

interface Case {
  name: string;
  args: string[];
  input?: string;
}

const CASES: Case[] = [
  {
    name: 'the reference sequence on raw',
    args: ['-f', 'raw', ...c(
      'write -P 0xab 0 64k', 'read -P 0xab 0 64k', 'read -P 0xcd 0 64k', 'read -v 0 32',
      'aio_write -P 0x11 1M 128k', 'aio_flush', 'writev -P 0x22 2M 4k 4k', 'readv -P 0x22 2M 4k 4k',
      'aio_read -P 0x11 1M 128k', 'aio_flush', 'write -z 4M 1M', 'map', 'alloc 0 64k', 'alloc 64k 64k', 'alloc 0 8M',
      'discard 0 64k', 'info', 'length', 'read 8M 512', 'write 7M 2M', 'read -P 0xab 0 64k', 'read -q 0 512',
    ), 'img.raw'],
  },
  {
    name: 'bad command input',
    args: ['-f', 'raw', ...c(
      'bogus', 'read -P 0xzz 0 512', 'read abc 512', 'read -1 512', 'read 0 -1', 'read 0 3G', 'read 0 1Q', 'read 0 20E',
      'read 0 99999999999999999999', 'read', 'read 0', 'read 0 1 2', 'write -c 0 64k', 'write -z -P 1 0 64k',
      'write -u 0 1', 'write -n 0 1', 'write -c 1 512', 'write -f -c 0 512', 'write -z 0 3G', 'write -P 256 0 1',
      'write -P -1 0 1', 'help bogus', 'help read write', 'length 5', 'alloc', 'alloc -1', 'alloc 0 x', 'sleep x',
      'sleep -1', 'truncate -m bogus 1M', 'discard 0 3G', 'readv 0 1G 1G', 'writev 0 2G', 'aio_read 0 512 -1',
      'aio_write -z 0 512 512', 'aio_write -u 0 512', 'read -s 5 x 512', 'read -P 1 -l 3G 0 512', 'read -P 1 -s 600 0 512',
      'r -x 0 1', 'open img.raw', "read\t0 512", 'quit x',
    ), 'img.raw'],
  },
  {
    name: 'size and pattern syntax',
    args: ['-f', 'raw', ...c(
      'write -P 07 0 1', 'write -P 010 1 1', 'write -P 0x41 2 1', 'read -v 0 3', 'alloc 0 1.5k', 'alloc 0 0.5k',
      'alloc 0 1.2345678k', 'alloc 0 1.9999999999k', 'alloc 0 0.1k', 'alloc 0 1.1b', 'alloc 0 0x10', 'alloc 0 0x10k',
      'alloc 0 1e3', 'alloc 0 1kB', 'alloc 0 1.', 'alloc 0 1.k', 'alloc 0 .5k', 'alloc 0 0x', 'alloc 0 0x1.5',
      'alloc 0 8E', 'alloc 0 7E', 'alloc 0 1.5e', 'alloc 1023k 2k', 'alloc 8M', 'alloc 1 1', 'alloc 1536',
    ), 'img.raw'],
  },
  {
    name: 'help and extended help for every command',
    args: c('help', ...['abort', 'aio_flush', 'aio_read', 'aio_write', 'alloc', 'break', 'close', 'discard', 'flush', 'help',
      'info', 'length', 'map', 'open', 'quit', 'read', 'readv', 'remove_break', 'reopen', 'resume', 'sigraise', 'sleep',
      'truncate', 'wait_break', 'write', 'writev', 'r', 'l', '?'].map((n) => `help ${n}`)),
  },
  {
    name: 'probing guessed raw warns on stderr',
    args: [...c('read -P 0 64k 64k', 'write -P 0x5 1M 4k', 'read -P 0x5 1M 4k'), 'img.raw'],
  },
  {
    name: 'read-only refuses every write command before parsing it',
    args: ['-f', 'raw', '-r', ...c('write 0 512', 'discard 0 512', 'truncate 2M', 'write -z 0 512', 'aio_write 0 512',
      'writev 0 512', 'write -P zz 0 512', 'flush', 'read 0 512', 'write'), 'img.raw'],
  },
  {
    name: 'hex dump of mixed bytes and -s source file',
    args: ['-f', 'raw', ...c('write -s src.bin 0 12', 'write -P 0x20 12 2', 'write -P 0x7a 14 1', 'write -P 0xff 15 1',
      'read -v 0 20', 'write -s missing.bin 0 5', 'write -s empty.bin 0 5', 'read -v 1 17', 'readv -v 0 7 9'), 'img.raw'],
  },
  {
    name: 'machine-readable -C and quiet -q',
    args: ['-f', 'raw', ...c('write -C 0 512', 'read -C 0 512', 'read -v -C 0 16', 'readv -C 0 512', 'writev -C -q 0 512',
      'discard -C 0 4k', 'discard -q 0 4k', 'aio_read -C 0 512', 'aio_flush', 'read -C 0 0'), 'img.raw'],
  },
  {
    name: 'truncate, length, flush, sleep',
    args: ['-f', 'raw', ...c('truncate 16M', 'length', 'truncate 1536', 'length', 'truncate -m off 4M', 'length', 'flush',
      'sleep 10', 'map'), 'img.raw'],
  },
  {
    name: 'open/close without a file on the command line',
    args: c('length', 'close', 'open -o driver=raw img.raw', 'length', 'open img.raw', 'close', 'close',
      'open -r -o driver=raw img.raw', 'write 0 1', 'close', 'open -x img.raw', 'open -t bogus img.raw',
      'open -d bogus img.raw', 'open img.raw other.raw', 'open missing.raw', 'open -o driver=bogus img.raw', 'info'),
  },
  {
    name: 'aio errors and single completions',
    args: ['-f', 'raw', ...c('aio_read 8M 512', 'aio_flush', 'aio_write 8M 512', 'aio_flush', 'aio_read -i 0 512',
      'aio_write -i 0 512', 'aio_read -P 7 0 512', 'aio_flush', 'aio_write -P 9 0 512 1k', 'aio_flush',
      'aio_read -v -P 9 512 16', 'aio_flush', 'aio_write -P 3 4k 512'), 'img.raw'],
  },
  {
    name: 'quit stops the command list',
    args: ['-f', 'raw', ...c('bogus', 'length', 'quit', 'length'), 'img.raw'],
  },
  {
    name: 'interactive commands from stdin',
    args: ['-f', 'raw', 'img.raw'],
    input: 'length\n\nbogus\nwrite -P 0x3 0 4k\nread -P 0x3 0 4k\nlength\r\nquit\nlength\n',
  },
  {
    name: 'interactive without a file, last line unterminated',
    args: [],
    input: 'open -f raw img.raw\nopen -o driver=raw img.raw\nlength',
  },
  {
    name: 'sleep lets finished aio requests report',
    args: ['-f', 'raw', '-t', 'unsafe', ...c('aio_write -P 1 0 512', 'sleep 500', 'length', 'aio_flush'), 'img.raw'],
  },
  {
    name: 'a read-only probe does not warn',
    args: ['-r', ...c('read -q 0 4k', 'close', 'open -r img.raw', 'length', 'close', 'open img.raw', 'length'), 'img.raw'],
  },
  { name: '--help', args: ['--help'] },
  { name: '-h with other options', args: ['-f', 'raw', '-h'] },
  { name: 'unknown short option', args: ['-x', '-c', 'length', 'img.raw'] },
  { name: 'unknown long option', args: ['--bogus', 'img.raw'] },
  { name: 'ambiguous long option', args: ['--c=length', '-f', 'raw', 'img.raw'] },
  { name: 'abbreviated long options', args: ['--form=raw', '--cmd=length', '--cache', 'unsafe', '--read-only', 'img.raw'] },
  { name: 'option missing its argument', args: ['-f'] },
  { name: 'long option given a value it does not take', args: ['--help=x'] },
  { name: 'two files', args: ['-c', 'length', 'img.raw', 'other.raw'] },
  { name: 'missing file', args: ['-c', 'length', 'missing.raw'] },
  { name: 'unknown format', args: ['-f', 'bogus', '-c', 'length', 'img.raw'] },
  { name: 'unknown cache mode', args: ['-t', 'bogus', '-c', 'write 0 1', 'img.raw'] },
  { name: 'unknown discard mode', args: ['-d', 'bogus', '-c', 'write 0 1', 'img.raw'] },
  { name: 'unknown aio mode', args: ['-i', 'bogus', '-c', 'write 0 1', 'img.raw'] },
  { name: 'first bad option wins', args: ['-t', 'bogus', '-x', 'img.raw'] },
  { name: 'aio=native needs cache.direct', args: ['-f', 'raw', '-i', 'native', '-c', 'length', 'img.raw'] },
  { name: 'aio modes accepted', args: ['-f', 'raw', '--aio=io_uring', '-c', 'length', 'img.raw'] },
  { name: '-U needs -r', args: ['-f', 'raw', '-U', '-c', 'length', 'img.raw'] },
  { name: '-U with -r', args: ['-f', 'raw', '-U', '-r', '-c', 'read -P 0 0 1', 'img.raw'] },
  { name: '--image-opts with -f', args: ['--image-opts', '-f', 'raw', '-c', 'length', 'driver=raw,file.filename=img.raw'] },
  { name: '--image-opts', args: ['--image-opts', '-c', 'length', '-c', 'info', 'driver=raw,file.filename=img.raw'] },
  { name: 'no file and no stdin', args: ['-f', 'raw'] },
];

const files = (): Record<string, Uint8Array> => ({
  'img.raw': seededImage(8 << 20),
  'src.bin': new TextEncoder().encode('hello'),
  'empty.bin': new Uint8Array(0),
});

describe('tsemu-io matches qemu-io 7.2', () => {
  const dirs: TwinDirs[] = [];
  afterAll(() => dirs.forEach((d) => d.cleanup()));

  for (const tc of CASES) {
    it(tc.name, () => {
      const d = new TwinDirs(files());
      dirs.push(d);
      const { ours, theirs } = d.both(tc.args, tc.input);
      expect(maskTimings(ours.stdout)).toBe(maskTimings(theirs.stdout));
      expect(ours.stderr).toBe(theirs.stderr);
      expect(ours.code).toBe(theirs.code);
      expect(sha256(join(d.ours, 'img.raw'))).toBe(sha256(join(d.theirs, 'img.raw')));
    });
  }

  it('concurrent aio requests: same completions (qemu-io orders them by thread timing)', () => {
    const d = new TwinDirs(files());
    dirs.push(d);
    const args = ['-f', 'raw', ...c('aio_write -P 1 0 512', 'aio_write -P 2 512 512', 'aio_write -P 3 1k 512',
      'aio_write -P 4 2k 64k', 'aio_read 1M 4k', 'aio_flush', 'read -P 2 512 512'), 'img.raw'];
    const { ours, theirs } = d.both(args);
    const reports = (out: string): string[] => {
      const lines = maskTimings(out).split('\n');
      const pairs = [];
      for (let i = 0; i + 1 < lines.length; i += 2) pairs.push(`${lines[i]}\n${lines[i + 1]}`);
      return pairs.sort();
    };
    expect(reports(ours.stdout)).toEqual(reports(theirs.stdout));
    expect(reports(ours.stdout)).toHaveLength(6);
    expect(ours.code).toBe(theirs.code);
    expect(sha256(join(d.ours, 'img.raw'))).toBe(sha256(join(d.theirs, 'img.raw')));
  });
});
