// resize --preallocation=metadata|falloc|full on a qcow2 image with an
// internal snapshot: the L2 table the snapshot shares is copied first (as a
// guest write would copy it), then the new range is preallocated. The same
// image goes through qemu-img and tsemu-img; the files must come out
// byte-identical, check clean, and the snapshot still revert.
import { copyFileSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide } from './harness.js';
import { must, spawn, tsemuImg } from './qcow2-harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
});

afterAll(() => w.cleanup());

/** A snapshotted image made once (by qemu-img, in q) and copied to t, so even the snapshot's time stamps match. */
function fixture(name: string, create: string[], writes: string[]): void {
  // `create` is the options, then the size (which goes after the file name).
  must('qemu-img', ['create', '-f', 'qcow2', ...create.slice(0, -1), name, create[create.length - 1]!], w.q);
  must('qemu-io', ['-f', 'qcow2', ...writes.flatMap((c) => ['-c', c]), name], w.q);
  must('qemu-img', ['snapshot', '-c', 's1', name], w.q);
  must('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x77 0 64k', name], w.q);
  copyFileSync(`${w.q}/${name}`, `${w.t}/${name}`);
}

describe('resize with preallocation over snapshot-shared L2 tables', () => {
  let n = 0;
  it.each([
    ['metadata', ['4M'], ['write -P 1 0 1M', 'write -P 2 3M 512k'], '+1M'],
    ['falloc', ['4M'], ['write -P 1 0 1M', 'write -P 2 3M 512k'], '+1M'],
    ['full', ['4M'], ['write -P 1 0 1M', 'write -P 2 3M 512k'], '+1M'],
    // 4 KiB clusters: an L2 table covers 2 MiB, so the growth spans shared and new tables.
    ['metadata', ['-o', 'cluster_size=4096', '3M'], ['write -P 1 0 1M', 'write -P 2 2M 512k'], '7M'],
    ['falloc', ['-o', 'cluster_size=4096', '3M'], ['write -P 1 0 1M', 'write -P 2 2M 512k'], '7M'],
    ['full', ['-o', 'cluster_size=4096', '3M'], ['write -P 1 0 1M', 'write -P 2 2M 512k'], '7M'],
    ['full', ['-o', 'cluster_size=4096,refcount_bits=4', '1M'], ['write -P 3 256k 300k'], '+3M'],
  ])('%s %j %j to %s', async (mode, create, writes, size) => {
    const name = `r${n++}.qcow2`;
    fixture(name, create, writes);
    const args = ['resize', `--preallocation=${mode}`, name, size];
    const qemu = spawn('qemu-img', args, w.q);
    expect(qemu.code).toBe(0);
    expect(await tsemuImg(args, w.t)).toEqual(qemu);
    expect(readFileSync(`${w.t}/${name}`).equals(readFileSync(`${w.q}/${name}`))).toBe(true);
    expect(spawn('qemu-img', ['check', name], w.t).code).toBe(0);
    // The snapshot still reverts to what it saved.
    for (const d of [w.q, w.t]) must('qemu-img', ['snapshot', '-a', 's1', name], d);
    expect(spawn('qemu-img', ['compare', `${w.q}/${name}`, `${w.t}/${name}`], w.t).code).toBe(0);
    expect(spawn('qemu-img', ['check', name], w.t).code).toBe(0);
  });
});
