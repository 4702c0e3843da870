// -T/--trace as qemu-io 7.2 checks it (no trace events are emitted yet):
// unknown event names warn, bad keys and unreadable files stop, `help` lists
// the events and exits before any command runs.
import { afterAll, describe, expect, it } from 'vitest';
import { TwinDirs } from './harness.js';

const dirs = new TwinDirs({ 'disk.raw': new Uint8Array(64 * 1024) });
afterAll(() => dirs.cleanup());

const read = ['-c', 'read -P 0 0 512', '-f', 'raw', 'disk.raw'];
const CASES: string[][] = [
  ['-T', 'bogus', ...read],
  // Patterns and known names never warn (none of these events fires here: QEMU would print it).
  ['--trace', 'noenable', '-T', '-x', '-T', 'nbd_*', '-T', 'nbd_trip', ...read],
  ['-T', 'help', ...read],
  ['-T', 'foo=1', ...read],
  ['-T', 'bogus,nofile', ...read],
  ['-T', 'events=/nonexistent', ...read],
  ['-T', 'enable=x,file=/nonexistent/t.log', ...read],
];

describe('-T/--trace', () => {
  it.each(CASES.map((c) => [c]))('%j: same output and status as qemu-io', (args) => {
    const { ours, theirs } = dirs.both(args);
    const mask = (t: string): string => t.replace(/\d\d\.\d\d sec \(.*\)$/gm, 'TIME');
    expect({ ...ours, stdout: mask(ours.stdout) }).toEqual({ ...theirs, stdout: mask(theirs.stdout) });
  });
});
