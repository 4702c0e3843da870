// convert -c leaves the same file as qemu-img 7.2: clusters deflated and
// packed the same way, zero clusters compressed too under -S 0, and the file
// padded to a whole 512-byte sector at the end (qemu-img's empty compressed
// write after the copy). Text-like data too: deflated by the host's libz, as
// qemu-img does (Node's bundled zlib makes other bytes for such data).
import { copyFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide, run } from './harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  const steps: string[][] = [
    ['qemu-img', 'create', '-q', '-f', 'raw', 'r.raw', '8M'],
    ['qemu-io', '-f', 'raw', '-c', 'write -P 5 1M 1M', '-c', 'write -P 6 3M 100k', 'r.raw'],
    ['qemu-img', 'create', '-q', '-f', 'qcow2', 'base.qcow2', '8M'],
    ['qemu-io', '-c', 'write -P 1 0 2M', '-c', 'write -z 4M 1M', 'base.qcow2'],
    ['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2'],
    ['qemu-io', '-c', 'write -P 2 1M 2M', '-c', 'discard 0 64k', 'top.qcow2'],
    ['qemu-img', 'create', '-q', '-f', 'qcow2', 'tgt.qcow2', '8M'],
  ];
  for (const [bin, ...args] of steps) {
    const r = run(bin!, args, w.q);
    if (r.code !== 0) throw new Error(`${bin} ${args.join(' ')}: ${r.stderr}`);
  }
  for (const f of ['r.raw', 'base.qcow2', 'top.qcow2', 'tgt.qcow2']) copyFileSync(`${w.q}/${f}`, `${w.t}/${f}`);
  // Seeded text: where Chromium's zlib (node:zlib) and the system zlib part ways.
  const words = ['alpha', 'beta', 'gamma', 'delta', 'qcow2', 'cluster'];
  let seed = 11, text = '';
  while (text.length < 2 << 20) { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; text += `${words[seed % 6]} ${seed % 997}\n`; }
  for (const dir of [w.q, w.t]) writeFileSync(`${dir}/text.raw`, text.slice(0, 2 << 20));
  for (const dir of [w.q, w.t]) writeFileSync(`${dir}/mixed.raw`, mixedData(4 << 20, 7));
});

/**
 * Seeded runs of text, random bytes, zeroes and repeated bytes: clusters
 * that compress well, barely (a 512-byte cluster near the limit) or not at
 * all (stored plainly, each its own allocation), so that with small clusters
 * compressed data meets new refcount blocks and L2 tables again and again.
 */
function mixedData(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const lengths = [512, 700, 1024, 3000, 4096, 9000];
  for (let at = 0; at < size;) {
    const kind = next() % 20, n = Math.min(lengths[next() % lengths.length]!, size - at);
    if (kind < 9) {
      for (let i = 0; i < n;) for (const ch of `w${next() % 91} `) if (i < n) out[at + i++] = ch.charCodeAt(0);
    } else if (kind < 14) {
      for (let i = 0; i < n; i++) out[at + i] = next() >>> 24;
    } else if (kind < 17) {
      out.fill(next() >>> 24, at, at + n);
    } // else zeroes
    at += n;
  }
  return out;
}

afterAll(() => w.cleanup());

const CASES: string[][] = [
  ['convert', '-c', '-O', 'qcow2', 'r.raw', 'out.qcow2'],
  ['convert', '-c', '-O', 'qcow2', 'top.qcow2', 'out.qcow2'],
  ['convert', '-c', '-O', 'qcow2', '-o', 'cluster_size=4k', 'base.qcow2', 'out.qcow2'],
  ['convert', '-c', '-O', 'qcow2', '-B', 'base.qcow2', '-F', 'qcow2', 'top.qcow2', 'out.qcow2'],
  ['convert', '-c', '-S', '0', '-p', '-O', 'qcow2', 'r.raw', 'out.qcow2'],
  ['convert', '-c', '-S', '0', '-O', 'qcow2', 'top.qcow2', 'out.qcow2'],
  ['convert', '-c', '-n', '-O', 'qcow2', 'r.raw', 'tgt.qcow2'],
  ['convert', '-c', '-O', 'qcow2', 'text.raw', 'out.qcow2'],
  ['convert', '-c', '-O', 'qcow2', '-o', 'cluster_size=4k', 'text.raw', 'out.qcow2'],
  ['convert', '-c', '-O', 'qcow2', '-o', 'cluster_size=2M', 'text.raw', 'out.qcow2'],
  // Small clusters: packing across new refcount blocks, incompressible clusters one by one.
  ['convert', '-c', '-O', 'qcow2', '-o', 'cluster_size=512', 'mixed.raw', 'out.qcow2'],
  ['convert', '-c', '-O', 'qcow2', '-o', 'cluster_size=512,refcount_bits=64', 'mixed.raw', 'out.qcow2'],
  ['convert', '-c', '-O', 'qcow2', '-o', 'cluster_size=1024,refcount_bits=4', 'mixed.raw', 'out.qcow2'],
  ['convert', '-c', '-O', 'qcow2', '-o', 'cluster_size=512', 'text.raw', 'out.qcow2'],
  ['convert', '-c', '-O', 'qcow2', '-o', 'cluster_size=512,compression_type=zstd', 'mixed.raw', 'out.qcow2'],
  ['convert', '-c', '-O', 'qcow2', '-o', 'cluster_size=1024,compression_type=zstd,refcount_bits=1', 'mixed.raw', 'out.qcow2'],
];

describe('convert -c: the same file as qemu-img', () => {
  it.each(CASES.map((c) => [c]))('%j', (args) => {
    const { qemu, tsemu, qemuSha, tsemuSha } = w.convertBoth(args);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(0);
    expect(tsemuSha).toBe(qemuSha);
  });
});
