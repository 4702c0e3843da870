// resize --shrink of qcow2 leaves the file qemu-img 7.2 leaves: the clusters
// past the new end are freed and punched out of the file (QEMU's file child
// unmaps), and the file is cut after the last cluster still in use; an L2
// table shared with a snapshot is copied even when none of its entries change.
import { copyFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide, run, sha256 } from './harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  const steps: string[][] = [
    ['qemu-img', 'create', '-q', '-f', 'qcow2', 'a.qcow2', '8M'],
    ['qemu-io', '-c', 'write -P 1 0 1M', '-c', 'write -P 2 6M 1M', '-c', 'write -P 3 3M 64k', 'a.qcow2'],
    ['qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4k', 'b.qcow2', '64M'],
    ['qemu-io', '-c', 'write -P 1 0 1M', '-c', 'write -P 2 60M 1M', 'b.qcow2'],
    // A snapshot shares the L2 table; nothing is allocated past 3M, yet qemu-img copies the table.
    ['qemu-img', 'create', '-q', '-f', 'qcow2', 'c.qcow2', '4M'],
    ['qemu-io', '-c', 'write -P 1 0 64k', '-c', 'write -P 2 1M 4k', 'c.qcow2'],
    ['qemu-img', 'snapshot', '-c', 's1', 'c.qcow2'],
  ];
  for (const [bin, ...args] of steps) {
    const r = run(bin!, args, w.q);
    if (r.code !== 0) throw new Error(`${bin} ${args.join(' ')}: ${r.stderr}`);
  }
});

afterAll(() => w.cleanup());

describe('resize --shrink', () => {
  it.each([['a.qcow2', '4M'], ['a.qcow2', '3M'], ['a.qcow2', '512k'], ['b.qcow2', '8M'], ['c.qcow2', '3M']])('%s to %s: the same file as qemu-img', (image, size) => {
    copyFileSync(`${w.q}/${image}`, `${w.q}/s-${image}`);
    copyFileSync(`${w.q}/${image}`, `${w.t}/s-${image}`);
    const { qemu, tsemu } = w.compare(['resize', '--shrink', `s-${image}`, size]);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(0);
    expect(sha256(`${w.t}/s-${image}`)).toBe(sha256(`${w.q}/s-${image}`));
    expect(run('qemu-img', ['check', `s-${image}`], w.t).code).toBe(0);
  });
});
