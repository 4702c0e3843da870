// commit of zero clusters: QEMU's commit job zeroes with MAY_UNMAP on a base
// opened with discard=unmap, so the base lets those clusters go (plain zero
// clusters, their host clusters freed) instead of keeping them allocated.
import { copyFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide, run } from './harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  const steps: string[][] = [
    ['qemu-img', 'create', '-q', '-f', 'qcow2', 'base.qcow2', '8M'],
    ['qemu-io', '-c', 'write -P 1 0 2M', '-c', 'write -z 4M 1M', 'base.qcow2'],
    ['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2'],
    // Zero clusters in the top over data in the base: discard (zero flag, no host cluster) and write -z.
    ['qemu-io', '-c', 'write -P 2 1M 512k', '-c', 'discard 0 64k', '-c', 'write -z 256k 128k', 'top.qcow2'],
  ];
  for (const [bin, ...args] of steps) {
    const r = run(bin!, args, w.q);
    if (r.code !== 0) throw new Error(`${bin} ${args.join(' ')}: ${r.stderr}`);
  }
  for (const f of ['base.qcow2', 'top.qcow2']) copyFileSync(`${w.q}/${f}`, `${w.t}/${f}`);
});

afterAll(() => w.cleanup());

const alone = 'json:{"driver":"qcow2","file":{"driver":"file","filename":"base.qcow2"},"backing":null}';

describe('commit of zero clusters', () => {
  it('frees them in the base as qemu-img does', () => {
    const { qemu, tsemu } = w.compare(['commit', 'top.qcow2']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(0);
    // Allocation counts and the map (zero, data, offsets present or not) of the base on its own.
    for (const args of [['check', 'base.qcow2'], ['map', '--output=json', alone]]) {
      const q = run('qemu-img', args, w.q);
      const t = run('qemu-img', args, w.t);
      expect(t.stdout.replace(/"offset": \d+/g, '"offset": N')).toBe(q.stdout.replace(/"offset": \d+/g, '"offset": N'));
    }
    expect(run('qemu-img', ['map', '--output=json', alone], w.t).stdout).toMatch(/"start": 0, "length": 65536, "depth": 0, "present": true, "zero": true, "data": false}/);
    expect(run('qemu-img', ['compare', `${w.q}/base.qcow2`, `${w.t}/base.qcow2`], w.t).code).toBe(0);
  });
});
