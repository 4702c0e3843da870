// Creation: QEMU's defaults, options, `Formatting` line and messages; the
// image itself byte-identical to qemu-img's where the layout is QEMU's, and
// `qemu-img info --output=json` equal in every case.
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { createImage } from '@tsemu/block-core';
import '@tsemu/block-qcow2';
import { expectCleanCheck, makeTempDir, qemuImg } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

function toOptions(spec: string): Record<string, string> {
  const o: Record<string, string> = {};
  if (spec) for (const kv of spec.split(',')) { const [k, v] = kv.split('='); o[k!] = v!; }
  return o;
}

/** Byte-for-byte (cmp copes with multi-GiB sparse files). */
function expectIdenticalFiles(a: string, b: string): void {
  expect(spawnSync('cmp', ['-s', a, b]).status).toBe(0);
}

function infoJson(file: string): Record<string, unknown> {
  const info = JSON.parse(qemuImg('info', '--output=json', file)) as Record<string, unknown>;
  delete info['actual-size'];
  delete info.filename;
  return info;
}

const SPECS: Array<[string, number]> = [
  ['', 64 << 20],
  ['cluster_size=512', 1 << 30],
  ['cluster_size=4096,lazy_refcounts=on,compat=1.1', 1 << 30],
  ['compat=0.10', 1 << 30],
  ['refcount_bits=1', 1 << 30],
  ['refcount_bits=64,cluster_size=2M', 1 << 30],
  ['refcount_bits=8,cluster_size=1024', 300 << 20],
  ['preallocation=metadata,cluster_size=4096', 8 << 20],
  ['preallocation=metadata', 3_000_000_000],
  ['compression_type=zstd', 16 << 20],
  ['', 0],
  ['', 1000],
];

describe('create', () => {
  for (const [spec, size] of SPECS) {
    it(`matches qemu-img: ${spec || 'defaults'} size=${size}`, async () => {
      const ours = tmp.path('ours.qcow2');
      const theirs = tmp.path('theirs.qcow2');
      const line = await createImage({ filename: ours, format: 'qcow2', size, options: toOptions(spec) });
      const qemuLine = qemuImg('create', '-f', 'qcow2', ...(spec ? ['-o', spec] : []), theirs, String(size)).trim();
      expect(line).toBe(qemuLine.replace(theirs, ours));
      expectCleanCheck(ours);
      expect(infoJson(ours)).toEqual(infoJson(theirs));
      expectIdenticalFiles(ours, theirs);
    });
  }

  it('matches qemu-img with a backing file, at every cluster size', async () => {
    const base = tmp.path('base.qcow2');
    qemuImg('create', '-f', 'qcow2', base, '64M');
    for (const cs of ['512', '4096', '65536', '2M']) {
      const ours = tmp.path(`ov-ours-${cs}.qcow2`);
      const theirs = tmp.path(`ov-theirs-${cs}.qcow2`);
      const opts = `cluster_size=${cs},backing_file=${base},backing_fmt=qcow2`;
      await createImage({ filename: ours, format: 'qcow2', size: 64 << 20, options: toOptions(opts) });
      qemuImg('create', '-f', 'qcow2', '-o', opts, theirs, '64M');
      const a = infoJson(ours);
      const b = infoJson(theirs);
      expect(a).toEqual(b);
      expect(a['backing-filename']).toBe(base);
      expectIdenticalFiles(ours, theirs);
    }
  });

  it('prints the Formatting line of the reference outputs', async () => {
    const f = tmp.path('fmt.qcow2');
    expect(await createImage({ filename: f, format: 'qcow2', size: 1 << 30, options: toOptions('cluster_size=4096,lazy_refcounts=on,compat=1.1') }))
      .toBe(`Formatting '${f}', fmt=qcow2 cluster_size=4096 extended_l2=off compression_type=zlib size=1073741824 compat=1.1 lazy_refcounts=on refcount_bits=16`);
  });

  const BAD: Array<[string, string]> = [
    ['compat=2.0', "Parameter 'version' does not accept value '2.0'"],
    ['compat=0.10,lazy_refcounts=on', 'Lazy refcounts only supported with compatibility level 1.1 and above (use version=v3 or greater)'],
    ['compat=0.10,refcount_bits=8', 'Different refcount widths than 16 bits require compatibility level 1.1 or above (use version=v3 or greater)'],
    ['refcount_bits=3', 'Refcount width must be a power of two and may not exceed 64 bits'],
    ['cluster_size=1000', 'Cluster size must be a power of two between 512 and 2048k'],
    ['cluster_size=4M', 'Cluster size must be a power of two between 512 and 2048k'],
    ['preallocation=bogus', "Parameter 'preallocation' does not accept value 'bogus'"],
    ['compat=0.10,compression_type=zstd', 'Non-zlib compression type is only supported with compatibility level 1.1 and above (use version=v3 or greater)'],
    ['compression_type=lz4', "Parameter 'compression-type' does not accept value 'lz4'"],
    ['lazy_refcounts=maybe', "Parameter 'lazy_refcounts' expects 'on' or 'off'"],
    ['preallocation=metadata,backing_file=x,backing_fmt=raw', 'Backing file and preallocation can only be used at the same time if extended_l2 is on'],
  ];
  for (const [spec, message] of BAD) {
    it(`refuses ${spec} as qemu-img does`, async () => {
      const f = tmp.path('bad.qcow2');
      await expect(createImage({ filename: f, format: 'qcow2', size: 1 << 20, options: toOptions(spec) })).rejects.toThrow(message);
    });
  }
});
