// Every bad input: one error in qemu-img's words, qemu-img's exit status,
// no stack trace, and the image left untouched.
import { existsSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide, sha256 } from './harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  w.both('qemu-img', ['create', '-f', 'raw', 'disk.raw', '4M']);
  w.both('qemu-io', ['-f', 'raw', '-c', 'write -P 0x42 0 1M', 'disk.raw']);
  w.both('qemu-img', ['create', '-f', 'raw', 'small.raw', '1M']);
});

afterAll(() => w.cleanup());

const CASES: string[][] = [
  [],
  ['nosuchcmd', 'disk.raw'],
  ['info', '-x', 'disk.raw'],
  ['info', '--bogus', 'disk.raw'],
  ['info', '-xU', 'disk.raw'],
  ['info', '--o=json', 'disk.raw'],
  ['info', '-f'],
  ['info'],
  ['info', 'disk.raw', 'small.raw'],
  ['info', '--output=xml', 'disk.raw'],
  ['info', 'nonexistent.qcow2'],
  ['info', '-f', 'nosuchfmt', 'disk.raw'],
  ['create', '-f', 'raw', 'bad.raw', '1Q'],
  ['create', '-f', 'raw', 'bad.raw', '--', '-1'],
  ['create', '-f', 'raw', 'bad.raw', '-5'],
  ['create', '-f', 'raw', 'bad.raw', '16E'],
  ['create', '-f', 'nosuchfmt', 'x.img', '1M'],
  ['create', '-f', 'raw', 'bad.raw'],
  ['create', '-f', 'raw', '-o', 'bogus=1', 'bad.raw', '1M'],
  ['create', '-f', 'raw', '-o', 'size=2M', 'bad.raw', '1M'],
  ['create', '-f', 'raw', '-b', 'disk.raw', 'bad.raw', '1M'],
  ['create', '-f', 'raw', 'bad.raw', '1M', 'extra'],
  ['create', '-f', 'raw', '-o', 'preallocation=foo', 'bad.raw', '1M'],
  ['create', '-f', 'qcow2', '-o', 'preallocation=foo', 'bad.qcow2', '1M'],
  ['create', '-f', 'qcow2', '-o', 'refcount_bits=4294967304', 'bad.qcow2', '1M'],
  ['create', '-f', 'qcow2', '-o', 'refcount_bits=-9223372036854775808', 'bad.qcow2', '1M'],
  ['measure', '-O', 'qcow2', '-o', 'refcount_bits=abc', '--size', '1M'],
  ['measure', '-O', 'qcow2', '-o', 'refcount_bits=18446744073709551616', '--size', '1M'],
  ['measure', '-O', 'qcow2', '-o', 'refcount_bits=4294967304', '--size', '1M'],
  ['bench', '-s', '3G', 'disk.raw'], // qemu-img refuses before allocating 64 buffers of 3 GiB
  ['bench', '-s', '100E', 'disk.raw'],
  ['bench', '-S', '3G', 'disk.raw'],
  ['bench', '-o', 'x', 'disk.raw'],
  ['map', '--start-offset', '-1', 'disk.raw'],
  ['map', '--max-length', '100E', 'disk.raw'],
  ['dd', 'if=disk.raw', 'of=bad.raw', 'bs=100E'],
  ['dd', 'if=disk.raw', 'of=bad.raw', 'skip=100E'],
  ['check', '-r', 'bogus', 'disk.raw'],
  ['check', '-T', 'bogus', 'disk.raw'],
  ['check', 'nonexistent.raw'],
  ['resize', '-f', 'raw', 'disk.raw', '1M'],
  ['resize', '-f', 'raw', 'disk.raw', '-1M'],
  ['resize', '-f', 'raw', 'disk.raw', '-8M'],
  ['resize', '-f', 'raw', 'disk.raw', '1Q'],
  ['resize', '-f', 'raw', 'disk.raw', '16E'],
  // resize has no -U / --force-share in qemu-img 7.2.
  ['resize', '-U', '-f', 'raw', 'disk.raw', '8M'],
  ['resize', '--force-share', '-f', 'raw', 'disk.raw', '8M'],
  ['resize', '-f', 'raw', '--preallocation=bogus', 'disk.raw', '8M'],
  ['resize', '-f', 'raw', 'disk.raw'],
  ['resize', 'nonexistent.raw', '1M'],
  ['convert', 'disk.raw'],
  ['convert', '-S', '100', 'disk.raw', 'bad.raw'],
  ['convert', '-S', 'abc', 'disk.raw', 'bad.raw'],
  ['convert', '-m', '17', 'disk.raw', 'bad.raw'],
  ['convert', '-t', 'bogus', 'disk.raw', 'bad.raw'],
  ['convert', '-t', 'bogus', '-O', 'qcow2', 'disk.raw', 'bad.raw'],
  ['convert', '-t', 'bogus', '-n', 'disk.raw', 'bad.raw'],
  ['convert', '-T', 'bogus', '-t', 'bogus', 'disk.raw', 'bad.raw'],
  ['convert', '-O', 'nosuchfmt', 'disk.raw', 'bad.raw'],
  ['convert', '-f', 'nosuchfmt', 'disk.raw', 'bad.raw'],
  ['convert', 'nonexistent.raw', 'bad.raw'],
  ['convert', '--target-is-zero', 'disk.raw', 'bad.raw'],
  ['convert', '-n', 'disk.raw', 'small.raw'],
  ['convert', '-n', '-o', 'preallocation=full', 'disk.raw', 'small.raw'],
  ['convert', '-c', 'disk.raw', 'bad.raw'],
  ['convert', '-o', 'bogus=1', 'disk.raw', 'bad.raw'],
  ['convert', '--bitmaps', '-O', 'qcow2', 'disk.raw', 'bad.raw'],
  ['convert', '--bitmaps', '-O', 'qcow2', 'disk.raw', 'small.raw', 'bad.raw'],
  ['convert', '-C', '-c', 'disk.raw', 'bad.raw'],
  ['convert', '-C', '-S', '0', 'disk.raw', 'bad.raw'],
  ['convert', '-C', '-S', '4k', '-O', 'qcow2', '-o', 'help', 'disk.raw', 'bad.raw'],
  ['convert', '--skip-broken-bitmaps', '-O', 'qcow2', '-o', 'help', 'disk.raw', 'bad.raw'],
  ['convert', '--skip-broken-bitmaps', 'disk.raw'],
  ['compare', 'disk.raw'],
  ['compare', 'disk.raw', 'nonexistent.raw'],
  ['map', '--output=xml', 'disk.raw'],
  ['map', 'nonexistent.raw'],
  ['bench', '-c', 'x', 'disk.raw'],
  // -U on a read-write open is refused before anything is opened.
  ['bench', '-c', '1', '-w', '-U', '-f', 'raw', 'disk.raw'],
  ['snapshot', '-U', '-c', 's1', 'disk.raw'],
  ['snapshot', '-U', '-c', 's1', 'nonexistent.qcow2'],
  ['bench', '--flush-interval=3', 'disk.raw'],
  ['bench', '-w', '-c', '10', '--flush-interval=3', '-f', 'raw', 'disk.raw'],
  ['bench', '-i', 'bogus', 'disk.raw'],
  ['bench', '-t', 'bogus', 'disk.raw'],
  ['bench', '-c', '5', '-o', '4M', '-f', 'raw', 'disk.raw'],
  ['bench', '-c', '5', '-n', '-f', 'raw', 'disk.raw'],
  ['bench', '-c', '5', '-i', 'native', 'disk.raw'],
  ['info', '--image-opts', 'driver=file,filename=disk.raw,aio=native'],
  // --image-opts: a bare first element is a node reference, later ones short-form booleans (with a warning).
  ['info', '--image-opts', 'disk.raw'],
  ['info', '--image-opts', 'disk.raw,driver=raw'],
  ['info', '--image-opts', 'driver=raw,disk.raw'],
  ['info', '--image-opts', 'driver=file,filename=disk.raw,foo'],
  ['info', '--image-opts', 'driver=null-co,nope=1'],
  ['dd', 'if=disk.raw'],
  ['dd', 'bs=0', 'if=disk.raw', 'of=bad.raw'],
  ['dd', 'bs=abc', 'if=disk.raw', 'of=bad.raw'],
  ['dd', 'count=-1', 'if=disk.raw', 'of=bad.raw'],
  ['dd', 'foo=1', 'if=disk.raw', 'of=bad.raw'],
  ['dd', 'if=nonexistent.raw', 'of=bad.raw'],
  ['dd', '-O', 'nosuchfmt', 'if=disk.raw', 'of=bad.raw'],
  // Safe rebase opens the new backing file before anything else can fail.
  ['rebase', '-b', 'nonexistent.raw', 'disk.raw'],
  ['rebase', '-b', 'nonexistent.raw', '-F', 'raw', 'disk.raw'],
  ['rebase', '-u', '-b', 'nonexistent.raw', 'disk.raw'],
  ['measure'],
  ['measure', '--size', '1M', 'disk.raw'],
  ['measure', '--size', '1Q'],
  ['measure', '--size', '1M', '-O', 'nosuchfmt'],
  ['measure', '--size', '1M', '-O', 'file'],
  ['measure', '-O', 'raw', '-o', 'bogus=1', '--size', '1M'],
];

describe('bad input', () => {
  it.each(CASES.map((c) => [c]))('%j: same error and status as qemu-img, image untouched', (args) => {
    for (const dir of [w.q, w.t]) rmSync(`${dir}/bad.raw`, { force: true });
    const before = [sha256(`${w.t}/disk.raw`), sha256(`${w.t}/small.raw`)];
    const { qemu, tsemu } = w.compare(args);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).not.toBe(0);
    expect(tsemu.stderr).not.toMatch(/^\s+at /m);
    expect([sha256(`${w.t}/disk.raw`), sha256(`${w.t}/small.raw`)]).toEqual(before);
    // qemu-img creates the target before it rejects some options (convert -t bogus): tsemu-img leaves the same file.
    expect(existsSync(`${w.t}/bad.raw`)).toBe(existsSync(`${w.q}/bad.raw`));
    if (existsSync(`${w.q}/bad.raw`)) expect(sha256(`${w.t}/bad.raw`)).toBe(sha256(`${w.q}/bad.raw`));
  });

  // measure's short spec has no leading ':' in qemu-img 7.2: glibc prints its own
  // message, then the help text goes to stdout with status 0 (the help's wording is
  // tsemu's own, so only stderr and the status are compared, and stdout is -h's).
  it.each([
    ['-Z', 'disk.raw'], ['disk.raw', '-f'], ['--nosuch=x', 'disk.raw'], ['--ima=1', 'disk.raw'],
    ['disk.raw', '--siz'], ['--o', 'disk.raw'], ['-Zh', 'disk.raw'], ['-hZ', 'disk.raw'], ['--size', '1G', '-Z'], ['--size', '1X', '-Z'],
  ].map((c) => [c]))('measure %j: glibc\'s message and the help text, as qemu-img', (args) => {
    const { qemu, tsemu } = w.compare(['measure', ...args]);
    expect({ stderr: tsemu.stderr, code: tsemu.code }).toEqual({ stderr: qemu.stderr, code: qemu.code });
    if (qemu.code === 0) expect(tsemu.stdout).toBe(w.compare(['measure', '-h']).tsemu.stdout);
  });

  it('bitmap on a format without persistent bitmaps fails as qemu-img does (its node name is a counter)', () => {
    const { qemu, tsemu } = w.compare(['bitmap', '--add', 'disk.raw', 'b0']);
    const node = (s: string): string => s.replace(/#block\d+/, '#blockN');
    expect({ ...tsemu, stderr: node(tsemu.stderr) }).toEqual({ ...qemu, stderr: node(qemu.stderr) });
    expect(tsemu.code).toBe(1);
  });
});
