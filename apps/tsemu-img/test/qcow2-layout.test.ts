// Refcount table growth during ordinary allocation, against qemu-img 7.2:
// `create -o preallocation=metadata` with small clusters fills the first
// refcount table (one 512-byte cluster names 64 blocks of 256 clusters:
// 8 MiB), so the new block, the next blocks and a larger table (room for
// half as many blocks again) go where QEMU puts them: the new block after
// the run that needed it, the rest at the next block boundary. The files
// must be byte-identical and check clean.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { SideBySide } from './harness.js';
import { spawn, tsemuImg } from './qcow2-harness.js';

const w = new SideBySide();
afterAll(() => w.cleanup());

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Refcount table offset and clusters from the header (bytes 48..59). */
function refcountTable(path: string): [number, number] {
  const h = readFileSync(path).subarray(0, 60);
  return [Number(h.readBigUInt64BE(48)), h.readUInt32BE(56)];
}

const CASES: Array<[string, string]> = [
  ['cluster_size=512,preallocation=metadata', '8M'],
  ['cluster_size=512,preallocation=metadata', '64M'],
  ['cluster_size=1024,preallocation=metadata', '64M'],
  ['cluster_size=512,preallocation=metadata,refcount_bits=64', '20M'],
  ['cluster_size=512,preallocation=metadata,refcount_bits=8', '40M'],
  ['cluster_size=512,preallocation=metadata,refcount_bits=32', '12M'],
  ['cluster_size=512,preallocation=metadata,compat=0.10', '24M'],
];

describe('qcow2 refcount table growth while allocating', () => {
  it.each(CASES)('create -o %s at %s is byte-identical to qemu-img', async (opts, size) => {
    const name = `${opts.replace(/[=,]/g, '-')}-${size}.qcow2`;
    const args = ['create', '-f', 'qcow2', '-o', opts, name, size];
    const qemu = spawn('qemu-img', args, w.q);
    expect(qemu.code).toBe(0);
    expect(await tsemuImg(args, w.t)).toEqual(qemu);
    // The table really grew (it started as one cluster right after the header).
    expect(refcountTable(`${w.q}/${name}`)[0]).toBeGreaterThan(65536);
    expect(refcountTable(`${w.t}/${name}`)).toEqual(refcountTable(`${w.q}/${name}`));
    expect(sha(`${w.t}/${name}`)).toBe(sha(`${w.q}/${name}`));
    const check = spawn('qemu-img', ['check', name], w.t);
    expect(check.code, check.stdout + check.stderr).toBe(0);
  });
});
