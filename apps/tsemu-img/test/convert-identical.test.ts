// Plain convert (no -c) leaves the very file qemu-img 7.2 leaves: the same
// clusters at the same host offsets, the same metadata. Cluster sizes where a
// 2 MiB chunk spans one, several or many L2 tables, data runs broken by
// written zeroes and holes, a source that is data from end to end, -n (zero
// writes between the data writes), a backing chain with -B, and raw targets.
import { copyFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide, run } from './harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  const steps: string[][] = [
    ['qemu-img', 'create', '-q', '-f', 'raw', 'r.raw', '40M'],
    ['qemu-io', '-f', 'raw', '-c', 'write -P 1 0 3M', '-c', 'write -z 3M 1M', '-c', 'write -P 2 5M 7M', '-c', 'write -P 3 20M 65000',
      '-c', 'write -P 4 30M 9M', '-c', 'write -z 33M 100k', 'r.raw'],
    ['qemu-img', 'create', '-q', '-f', 'qcow2', 'base.qcow2', '40M'],
    ['qemu-io', '-c', 'write -P 5 0 12M', '-c', 'write -z 16M 4M', 'base.qcow2'],
    ['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2'],
    ['qemu-io', '-c', 'write -P 6 2M 5M', '-c', 'write -P 7 25M 3M', 'top.qcow2'],
    ['qemu-img', 'create', '-q', '-f', 'qcow2', 'tgt.qcow2', '40M'],
    // All data: whole chunks back to back, which convert may merge into one write.
    ['qemu-img', 'create', '-q', '-f', 'raw', 'full.raw', '20M'],
    ['qemu-io', '-f', 'raw', '-c', 'write -P 9 0 20M', 'full.raw'],
  ];
  for (const [bin, ...args] of steps) {
    const r = run(bin!, args, w.q);
    if (r.code !== 0) throw new Error(`${bin} ${args.join(' ')}: ${r.stderr}`);
  }
  for (const f of ['r.raw', 'base.qcow2', 'top.qcow2', 'tgt.qcow2', 'full.raw']) copyFileSync(`${w.q}/${f}`, `${w.t}/${f}`);
});

afterAll(() => w.cleanup());

const CASES: string[][] = [
  ['convert', '-O', 'qcow2', '-o', 'cluster_size=512', 'r.raw', 'out.qcow2'],
  ['convert', '-O', 'qcow2', '-o', 'cluster_size=4k', 'r.raw', 'out.qcow2'],
  ['convert', '-O', 'qcow2', 'r.raw', 'out.qcow2'],
  ['convert', '-O', 'qcow2', '-o', 'cluster_size=2M', 'r.raw', 'out.qcow2'],
  ['convert', '-O', 'qcow2', '-o', 'compat=0.10,cluster_size=16k', 'r.raw', 'out.qcow2'],
  ['convert', '-O', 'qcow2', '-S', '0', 'r.raw', 'out.qcow2'],
  ['convert', '-O', 'qcow2', 'top.qcow2', 'out.qcow2'],
  ['convert', '-O', 'qcow2', '-B', 'base.qcow2', '-F', 'qcow2', 'top.qcow2', 'out.qcow2'],
  ['convert', '-n', '-O', 'qcow2', 'r.raw', 'tgt.qcow2'],
  ['convert', '-O', 'raw', 'top.qcow2', 'out.raw'],
  ['convert', '-f', 'raw', '-O', 'raw', 'r.raw', 'out.raw'],
  ['convert', '-O', 'qcow2', '-o', 'cluster_size=512', 'full.raw', 'out.qcow2'],
  ['convert', '-O', 'qcow2', 'full.raw', 'out.qcow2'],
  ['convert', '-f', 'raw', '-O', 'raw', 'full.raw', 'out.raw'],
];

describe('convert: the same file as qemu-img', () => {
  it.each(CASES.map((c) => [c]))('%j', (args) => {
    const target = args.at(-1)!;
    const { qemu, tsemu, qemuSha, tsemuSha } = w.convertBoth(args);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(0);
    expect(tsemuSha).toBe(qemuSha);
    if (target.endsWith('.raw')) {
      // Holes where qemu-img leaves holes.
      const map = (dir: string) => run('qemu-img', ['map', '--output=json', '-f', 'raw', target], dir).stdout;
      expect(map(w.t)).toBe(map(w.q));
    }
  });
});
