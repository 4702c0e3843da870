// measure: the numbers `qemu-img measure -O qcow2` prints.
import { describe, expect, it, afterAll } from 'vitest';
import { openImage } from '@tsemu/block-core';
import { measureQcow2 } from '@tsemu/block-qcow2';
import { makeTempDir, qemuImg, qemuIo } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

/** The two sizes of a measure (ours also says which qcow2 version it measured). */
const sizes = (m: { required: number; fullyAllocated: number }) => ({ required: m.required, fullyAllocated: m.fullyAllocated });

function qemuMeasure(...args: string[]): { required: number; fullyAllocated: number } {
  const j = JSON.parse(qemuImg('measure', '-O', 'qcow2', '--output=json', ...args));
  return { required: j.required, fullyAllocated: j['fully-allocated'] };
}

describe('measure', () => {
  const cases: Array<[number, string]> = [
    [64 << 20, ''], [2 ** 30, 'cluster_size=512'], [100 * 2 ** 30, 'refcount_bits=1'],
    [2 ** 40, 'cluster_size=2M,refcount_bits=64'], [7, ''], [2 ** 30, 'extended_l2=on'], [5_000_000, 'cluster_size=4096,refcount_bits=8'],
  ];
  for (const [size, opts] of cases) {
    it(`--size ${size} ${opts}`, () => {
      const options: Record<string, string> = {};
      if (opts) for (const kv of opts.split(',')) { const [k, v] = kv.split('='); options[k!] = v!; }
      expect(sizes(measureQcow2(size, options))).toEqual(qemuMeasure('--size', String(size), ...(opts ? ['-o', opts] : [])));
    });
  }

  it('counts the allocated clusters of an input image', async () => {
    const f = tmp.path('in.qcow2');
    qemuImg('create', '-f', 'qcow2', f, '64M');
    qemuIo(f, 'write 0 100k', 'write 10M 1M', 'write 63M 5k');
    const blk = await openImage({ filename: f, format: 'qcow2', readOnly: true });
    const extents: Array<[number, number]> = [];
    for (let off = 0; off < 64 << 20;) {
      const st = await blk.blockStatus(off, (64 << 20) - off);
      if (st.allocated) extents.push([off, st.length]);
      off += st.length;
    }
    await blk.close();
    expect(sizes(measureQcow2(64 << 20, {}, extents))).toEqual(qemuMeasure(f));
    expect(measureQcow2(64 << 20, {}, extents).version).toBe(3);
    expect(measureQcow2(64 << 20, { compat: '0.10' }, extents).version).toBe(2);
  });
});
