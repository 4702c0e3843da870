// -T/--trace as qemu-img 7.2 checks it (no trace events are emitted yet):
// unknown event names warn, bad keys and unreadable files stop, `help` lists
// the events, and options without a command end quietly with status 0.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide } from './harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  w.both('qemu-img', ['create', '-q', '-f', 'raw', 'disk.raw', '1M']);
});
afterAll(() => w.cleanup());

const CASES: string[][] = [
  ['-T', 'bogus', 'info', 'disk.raw'],
  // Patterns and known names never warn (none of these events fires here: QEMU would print it).
  ['--trace', 'enable=bogus', '-T', '-bogus2', '-T', 'nbd_*', '-T', 'nbd_trip', 'info', 'disk.raw'],
  ['-T', 'help', 'info', 'disk.raw'],
  ['-T', 'help', '-V'],
  ['-T', 'foo=1', 'info', 'disk.raw'],
  ['-T', 'bogus,nofile', 'info', 'disk.raw'],
  ['-T', 'events=/nonexistent', 'info', 'disk.raw'],
  ['-T', 'enable=x,file=/nonexistent/t.log', 'info', 'disk.raw'],
  ['-T', 'bogus'],
  ['-T', 'file=never.log'],
  ['--'],
];

describe('-T/--trace', () => {
  it.each(CASES.map((c) => [c]))('%j: same output and status as qemu-img', (args) => {
    const { qemu, tsemu } = w.compare(args);
    expect(tsemu).toEqual(qemu);
  });

  it('file= creates the (empty) log only when a command runs', () => {
    const { qemu, tsemu } = w.compare(['-T', 'file=t.log', 'info', 'disk.raw']);
    expect(tsemu).toEqual(qemu);
    expect([existsSync(`${w.t}/t.log`), existsSync(`${w.t}/never.log`)]).toEqual([true, false]);
  });
});
