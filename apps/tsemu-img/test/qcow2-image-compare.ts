// Fixture corruption and image comparison for the check / commit tests.
// Offsets come from each image's own header, so the fixtures follow
// whatever layout qemu-img gave the base image.
import { readFileSync, writeFileSync } from 'node:fs';

const OFFSET_MASK = 0x00fffffffffffe00n;
const COPIED = 1n << 63n;

interface Layout {
  cs: number;
  l1: number;
  reftable: number;
  refblock: number;
  l2: number;
}

function layout(dv: DataView): Layout {
  const cs = 2 ** dv.getUint32(20);
  const l1 = Number(dv.getBigUint64(40));
  const reftable = Number(dv.getBigUint64(48));
  return {
    cs, l1, reftable,
    refblock: Number(dv.getBigUint64(reftable) & OFFSET_MASK),
    l2: Number(dv.getBigUint64(l1) & OFFSET_MASK),
  };
}

/** The corruptions the tests apply (names describe what goes wrong). */
export const CORRUPTIONS = [
  'leak', 'refcount-zero', 'refcount-low', 'copied-l2', 'copied-l1', 'past-eof', 'into-refblock', 'into-l1',
  'refblock-over-l1', 'refblock-outside', 'unaligned-data', 'unaligned-zero', 'compressed-copied', 'l1-reserved',
] as const;
export type Corruption = (typeof CORRUPTIONS)[number];

/** Writes `src` corrupted by `kind` to `dst` (a 64 KiB-cluster image with data in its first L2 table). */
export function corrupt(src: string, kind: Corruption, dst: string): void {
  const bytes = new Uint8Array(readFileSync(src));
  const dv = new DataView(bytes.buffer);
  const { cs, l1, reftable, refblock, l2 } = layout(dv);
  const l2e = (i: number): bigint => dv.getBigUint64(l2 + i * 8);
  const setL2 = (i: number, v: bigint): void => dv.setBigUint64(l2 + i * 8, v);
  const host = (i: number): number => Number(l2e(i) & OFFSET_MASK);
  const setRefcount = (cluster: number, v: number): void => dv.setUint16(refblock + cluster * 2, v);
  switch (kind) {
    case 'leak': setRefcount(host(0) / cs, 2); setRefcount(host(1) / cs, 3); break;
    case 'refcount-zero': setRefcount(host(1) / cs, 0); break;
    case 'refcount-low': setL2(3, l2e(2)); break; // two references, refcount 1
    case 'copied-l2': setL2(1, l2e(1) & ~COPIED); break;
    case 'copied-l1': dv.setBigUint64(l1, dv.getBigUint64(l1) & ~COPIED); break;
    case 'past-eof': setL2(2, COPIED | BigInt(100 * 1024 * 1024)); break;
    case 'into-refblock': setL2(2, COPIED | BigInt(refblock)); break;
    case 'into-l1': setL2(2, COPIED | BigInt(l1)); break;
    case 'refblock-over-l1': dv.setBigUint64(reftable, BigInt(l1)); break;
    case 'refblock-outside': dv.setBigUint64(reftable + 8, BigInt(200 * cs)); break;
    case 'unaligned-data': setL2(2, COPIED | (BigInt(host(2)) + 512n)); break;
    case 'unaligned-zero': setL2(2, COPIED | (BigInt(host(2)) + 512n) | 1n); break;
    case 'compressed-copied': { const i = (1 << 20) / cs; setL2(i, l2e(i) | COPIED); break; }
    case 'l1-reserved': dv.setBigUint64(l1, dv.getBigUint64(l1) | 2n); break;
  }
  writeFileSync(dst, bytes);
}

/** Refcount of `cluster` in an image with 16-bit refcounts (0 where no block describes it). */
function refcountOf(dv: DataView, cluster: number): number {
  const cs = 2 ** dv.getUint32(20);
  const table = Number(dv.getBigUint64(48));
  // v3 headers give the entry width (refcount_order at byte 96); v2 has 16 bits.
  const order = dv.getUint32(4) >= 3 ? dv.getUint32(96) : 4;
  const bits = 2 ** order;
  const perBlock = (cs * 8) / bits;
  const entry = table + Math.floor(cluster / perBlock) * 8;
  if (entry + 8 > dv.byteLength) return 0;
  const block = Number(dv.getBigUint64(entry) & ~0x1ffn);
  const i = cluster % perBlock;
  const at = block + Math.floor((i * bits) / 8);
  if (block === 0 || at + Math.max(1, bits / 8) > dv.byteLength) return 0;
  if (bits < 8) return (dv.getUint8(at) >> ((i * bits) % 8)) & (2 ** bits - 1);
  if (bits === 8) return dv.getUint8(at);
  if (bits === 16) return dv.getUint16(at);
  if (bits === 32) return dv.getUint32(at);
  return Number(dv.getBigUint64(at)); // only compared with 0
}

/**
 * The two files are equal, except in clusters qemu-img freed and punched
 * (refcount 0 and all zeroes on its side): tsemu's qcow2 file child does not
 * punch holes for freed clusters, so the old bytes stay there. Returns the
 * first differing cluster that is not such a cluster, or -1.
 */
export function firstRealDifference(qemuFile: string, tsemuFile: string): number {
  const q = new Uint8Array(readFileSync(qemuFile));
  const t = new Uint8Array(readFileSync(tsemuFile));
  if (q.length !== t.length) return -2;
  const dv = new DataView(q.buffer);
  const cs = 2 ** dv.getUint32(20);
  for (let c = 0; c * cs < q.length; c++) {
    const qc = q.subarray(c * cs, (c + 1) * cs);
    const tc = t.subarray(c * cs, (c + 1) * cs);
    if (Buffer.compare(qc, tc) === 0) continue;
    if (refcountOf(dv, c) === 0 && qc.every((b) => b === 0)) continue;
    return c;
  }
  return -1;
}
