import { describe, expect, it } from 'vitest';
import { getopt, type LongOption } from '../src/getopt.js';
import { parseCommandLine, USAGE_TEXT } from '../src/options.js';

const LONGS: LongOption[] = [
  { name: 'cmd', hasArg: true, key: 'c' },
  { name: 'copy-on-read', hasArg: false, key: 'C' },
  { name: 'cache', hasArg: true, key: 't' },
  { name: 'help', hasArg: false, key: 'h' },
];

describe('getopt', () => {
  it('permutes operands and options, and handles clusters and attached values', () => {
    const r = getopt('read', ['0', '-qv', '-P5', '512', '-s', '1'], 'qvP:s:');
    expect(r).toEqual({
      ok: true,
      options: [{ key: 'q' }, { key: 'v' }, { key: 'P', value: '5' }, { key: 's', value: '1' }],
      operands: ['0', '512'],
    });
  });
  it('stops option parsing at --', () => {
    expect(getopt('x', ['--', '-1'], 'q')).toMatchObject({ ok: true, operands: ['-1'] });
  });
  it('words errors as glibc', () => {
    expect(getopt('read', ['-1'], 'q')).toMatchObject({ ok: false, error: "read: invalid option -- '1'" });
    expect(getopt('qemu-io', ['-c'], 'c:')).toMatchObject({ ok: false, error: "qemu-io: option requires an argument -- 'c'" });
    expect(getopt('q', ['--bogus=1'], '', LONGS)).toMatchObject({ error: "q: unrecognized option '--bogus=1'" });
    expect(getopt('q', ['--c=x'], '', LONGS)).toMatchObject({
      error: "q: option '--c=x' is ambiguous; possibilities: '--cmd' '--copy-on-read' '--cache'",
    });
    expect(getopt('q', ['--help=x'], '', LONGS)).toMatchObject({ error: "q: option '--help' doesn't allow an argument" });
    expect(getopt('q', ['--cache'], '', LONGS)).toMatchObject({ error: "q: option '--cache' requires an argument" });
  });
  it('accepts unique prefixes of long options', () => {
    expect(getopt('q', ['--cm=length', '--he'], '', LONGS)).toMatchObject({
      ok: true, options: [{ key: 'c', value: 'length' }, { key: 'h' }],
    });
  });
});

describe('parseCommandLine', () => {
  it('defaults to writethrough and discard=unmap, as qemu-io does', () => {
    const r = parseCommandLine(['-c', 'length', 'a.raw']);
    expect(r).toMatchObject({ kind: 'run', commands: ['length'], settings: { filename: 'a.raw', cache: 'writethrough', discard: 'unmap' } });
  });
  it('lets the last of -n and -t win', () => {
    expect(parseCommandLine(['-t', 'writeback', '-n'])).toMatchObject({ settings: { cache: 'none' } });
    expect(parseCommandLine(['-n', '-t', 'off'])).toMatchObject({ settings: { cache: 'none' } });
    expect(parseCommandLine(['-n', '-t', 'unsafe'])).toMatchObject({ settings: { cache: 'unsafe' } });
  });
  it('stops at the first bad option', () => {
    expect(parseCommandLine(['-t', 'bogus', '-x'])).toEqual({ kind: 'exit', code: 1, stderr: 'qemu-io: Invalid cache option: bogus\n' });
    expect(parseCommandLine(['-x', '-t', 'bogus'])).toEqual({
      kind: 'exit', code: 1, stdout: USAGE_TEXT, stderr: "qemu-io: invalid option -- 'x'\n",
    });
  });
  it('accepts --detect-zeroes only when spelled out', () => {
    expect(parseCommandLine(['--detect-zeroes=unmap'])).toMatchObject({ settings: { detectZeroes: 'unmap' } });
    expect(parseCommandLine(['--detect=on'])).toMatchObject({ kind: 'exit', code: 1 });
    expect(parseCommandLine(['--d=unmap'])).toMatchObject({ settings: { discard: 'unmap' } });
  });
  it('refuses --image-opts with -f and more than one file', () => {
    expect(parseCommandLine(['--image-opts', '-f', 'raw', 'x'])).toMatchObject({ stderr: 'qemu-io: --image-opts and -f are mutually exclusive\n' });
    expect(parseCommandLine(['a', 'b'])).toEqual({ kind: 'exit', code: 1, stdout: USAGE_TEXT });
  });
});
