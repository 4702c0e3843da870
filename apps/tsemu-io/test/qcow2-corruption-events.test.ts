// Fatal corruption events on writable qcow2 images, side by side with
// qemu-io: the one "Marking image as corrupt" line (compat 0.10 too), then
// every request fails with "No medium found" (QEMU drops the node's driver)
// and nothing more is written: the files end byte-identical. Read-only
// opens report "Image is corrupt" and go on. Also a refcount table that
// gives cluster 0 away: the write that would put an L2 table over the header
// is refused ("Preventing invalid allocation of L2 table at offset 0") and the
// header survives (a fuzzer case once crashed there and overwrote it).
// Frees of clusters whose count is already 0 are not corruption events:
// "qcow2_free_clusters failed: Invalid argument", and the request succeeds.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskTimings, QEMU_IO, run, sha256, TSEMU_IO } from './harness.js';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsemu-io-corrupt-'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A 1 MiB image with 4 KiB clusters and one written cluster, then `damage` applied to its bytes. */
function image(name: string, compat: string, damage: (b: Buffer, dv: DataView) => void): string {
  const path = join(dir, name);
  expect(run('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `compat=${compat},cluster_size=4096`, name, '1M'], dir).code).toBe(0);
  expect(run(QEMU_IO, ['-c', 'write -P 0x5a 0 4k', name], dir).code).toBe(0);
  const b = readFileSync(path);
  damage(b, new DataView(b.buffer, b.byteOffset, b.byteLength));
  writeFileSync(path, b);
  return path;
}

/** The L1 table's first entry moved into the middle of a cluster (an unaligned L2 table offset). */
const unalignedL2 = (b: Buffer, dv: DataView): void => {
  const l1 = Number(dv.getBigUint64(40));
  dv.setBigUint64(l1, dv.getBigUint64(l1) + 512n);
};

/** The refcount table's offset moved onto an empty cluster: every cluster reads as free, the header's first. */
const freeHeader = (b: Buffer, dv: DataView): void => {
  dv.setBigUint64(48, BigInt(b.length)); // past the data: reads as zeroes
};

/** The header's refcount zeroed and the L1 table emptied: the next write needs an L2 table, and cluster 0 looks free. */
const l2AtZero = (b: Buffer, dv: DataView): void => {
  const refblock = Number(dv.getBigUint64(Number(dv.getBigUint64(48))));
  dv.setUint16(refblock, 0); // 16-bit refcounts: cluster 0's
  dv.setBigUint64(Number(dv.getBigUint64(40)), 0n);
};

/** Both tools on their own copy of `src` with the same commands; outputs (stdout, stderr: order aside) and files. */
function both(src: string, args: string[]): { qemu: string[]; tsemu: string[]; sameFile: boolean; ours: string } {
  const q = `${src}.q`, t = `${src}.t`;
  copyFileSync(src, q);
  copyFileSync(src, t);
  const rq = run(QEMU_IO, [...args, q], dir), rt = run(TSEMU_IO, [...args, t], dir);
  const norm = (r: { stdout: string; stderr: string; code: number | null }, name: string): string[] =>
    [maskTimings(r.stdout).replaceAll(name, 'IMG'), r.stderr.replaceAll(name, 'IMG'), String(r.code)];
  return { qemu: norm(rq, q), tsemu: norm(rt, t), sameFile: sha256(q) === sha256(t), ours: t };
}

describe('fatal corruption events', () => {
  it.each(['0.10', '1.1'])('compat=%s: an unaligned L2 table marks the image corrupt, then No medium found', (compat) => {
    const src = image(`unaligned-${compat}.qcow2`, compat, unalignedL2);
    const r = both(src, ['-c', 'write 0 512', '-c', 'read 0 512', '-c', 'write 8k 512', '-c', 'writev 12k 512', '-c', 'flush', '-c', 'map']);
    expect(r.tsemu).toEqual(r.qemu);
    expect(r.tsemu[1]).toMatch(/^qcow2: Marking image as corrupt: L2 table offset 0x\w+ unaligned \(L1 index: 0\); further corruption events will be suppressed\n/);
    expect(r.tsemu[0]).toMatch(/read failed: No medium found/);
    expect(r.sameFile).toBe(true);
  });

  it('read-only: "Image is corrupt" (non-fatal), reported once; later requests still reach the image', () => {
    const src = image('unaligned-ro.qcow2', '1.1', unalignedL2);
    const r = both(src, ['-r', '-c', 'read 0 512', '-c', 'read 0 512', '-c', 'map']);
    expect(r.tsemu).toEqual(r.qemu);
    expect(r.tsemu[1]).toMatch(/^qcow2: Image is corrupt: .*further non-fatal corruption events will be suppressed\n/);
    expect(r.tsemu[0]).not.toContain('No medium found');
  });

  it.each([
    // The failing 5000-byte write starts in place and needs a new cluster after it: as qemu-io, the
    // allocation fails before the in-place part is written, so neither is (the files are identical).
    ['free-header.qcow2', 'refcount block', freeHeader],
    ['l2-at-zero.qcow2', 'L2 table', l2AtZero],
  ] as const)('%s: refcounts that give cluster 0 away: no %s over the header, as qemu-io', (name, what, damage) => {
    const src = image(name, '1.1', damage);
    const header = readFileSync(src).subarray(0, 72);
    const r = both(src, ['-c', 'read 0 1M', '-c', 'write -P 0xee 0 5000', '-c', 'write 512k 1', '-c', 'write -z 0 64k', '-c', 'flush']);
    expect(r.tsemu).toEqual(r.qemu);
    expect(r.tsemu[1]).toContain(`Preventing invalid allocation of ${what} at offset 0`);
    expect(r.tsemu[0]).toMatch(/write failed: No medium found/);
    expect(r.sameFile).toBe(true);
    // The header is as it was, the corrupt bit (incompatible features, at 72) set after it.
    expect(readFileSync(r.ours).subarray(0, 72)).toEqual(header);
  });
});

/** 64 KiB clusters, 128 KiB written (host clusters 5 and 6), then refcounts of those set to `counts` (16-bit entries). */
function dataRefcounts(name: string, counts: readonly [number, number]): string {
  const path = join(dir, name);
  expect(run('qemu-img', ['create', '-q', '-f', 'qcow2', name, '1M'], dir).code).toBe(0);
  expect(run(QEMU_IO, ['-c', 'write -P 0x11 0 128k', name], dir).code).toBe(0);
  const b = readFileSync(path);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const refblock = Number(dv.getBigUint64(Number(dv.getBigUint64(48))));
  const l2 = Number(dv.getBigUint64(Number(dv.getBigUint64(40))) & 0xffffffffffffffn) & ~0xffff;
  // The layout these cases assume: data at host clusters 5 and 6.
  expect(Number(dv.getBigUint64(l2) & 0xffffffffffffffn)).toBe(5 * 65536);
  expect(Number(dv.getBigUint64(l2 + 8) & 0xffffffffffffffn)).toBe(6 * 65536);
  dv.setUint16(refblock + 10, counts[0]);
  dv.setUint16(refblock + 12, counts[1]);
  writeFileSync(path, b);
  return path;
}

describe('frees of clusters whose count is already 0', () => {
  it.each([
    ['discard', ['-c', 'discard 0 128k', '-c', 'read -P 0 0 128k']],
    ['write -z -u', ['-c', 'write -z -u 0 128k', '-c', 'write -P 0x22 0 64k', '-c', 'read -P 0x22 0 64k']],
    ['discard, -d unmap', ['-d', 'unmap', '-c', 'discard 0 128k', '-c', 'map']],
  ])('%s: one line per failing cluster, the others freed, success, files identical to qemu-io\'s', (_name, args) => {
    const src = dataRefcounts(`free-${_name.replaceAll(' ', '')}.qcow2`, [1, 0]);
    const r = both(src, [...args]);
    expect(r.tsemu).toEqual(r.qemu);
    expect(r.tsemu[1]).toBe('qcow2_free_clusters failed: Invalid argument\n');
    expect(r.tsemu[2]).toBe('0');
    expect(r.sameFile).toBe(true);
  });

  it('-d unmap: a run where only some counts reach 0 discards only those in the file (the other is still referenced)', () => {
    const src = dataRefcounts('free-partial.qcow2', [2, 1]);
    const r = both(src, ['-d', 'unmap', '-c', 'discard 0 128k']);
    expect(r.tsemu).toEqual(r.qemu);
    expect(r.tsemu[1]).toBe('');
    expect(r.sameFile).toBe(true);
    const b = readFileSync(r.ours);
    expect(b.subarray(5 * 65536, 5 * 65536 + 4)).toEqual(Buffer.from([0x11, 0x11, 0x11, 0x11]));
    expect(b.length <= 6 * 65536 || b.subarray(6 * 65536, 7 * 65536).every((x) => x === 0)).toBe(true);
  });
});
