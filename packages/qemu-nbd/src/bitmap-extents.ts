// qemu:dirty-bitmap:NAME for -B: the export's persistent bitmaps (qcow2's
// Qcow2DriverState.bitmaps, reached by name: this package does not depend on
// the format packages) and the block-status extents a bitmap gives, as
// (length, flags) pairs with NBD_STATE_DIRTY (1) for dirty ranges.
import type { BlockBackend } from '@tsemu/block-core';
import type { ExportedBitmap } from './export.js';

interface FormatBitmap { name: string; granularityBits: number; inconsistent: boolean }
interface FormatBitmaps {
  readonly list: FormatBitmap[];
  bitsOf(bm: FormatBitmap): Promise<Uint8Array>;
}

/** -B names resolved at start, with qemu-nbd 7.2's messages for a missing or inconsistent bitmap. */
export async function exportedBitmaps(backend: BlockBackend, names: readonly string[]): Promise<ExportedBitmap[]> {
  const all = (backend.root.state as { bitmaps?: FormatBitmaps }).bitmaps;
  const out: ExportedBitmap[] = [];
  // qemu-nbd 7.2 keeps its -B list newest first: contexts are offered (and checked) in that order.
  for (const name of [...names].reverse()) {
    const bm = all?.list.find((b) => b.name === name);
    if (bm === undefined) throw new Error(`Bitmap '${name}' is not found`);
    if (bm.inconsistent) throw new Error(`Bitmap '${name}' is inconsistent and cannot be used`);
    await all!.bitsOf(bm);
    // The bits array is the live one (a resize replaces it): asked for each request.
    out.push({ name, granularity: 2 ** bm.granularityBits, bits: () => (bm as { bits?: Uint8Array }).bits ?? new Uint8Array(0) });
  }
  return out;
}

/** Runs of equal bits over [offset, offset + length), at most `max` extents, each below 4 GiB. */
export function bitmapExtents(bm: ExportedBitmap, offset: number, length: number, max: number): number[] {
  const bits = bm.bits();
  const g = bm.granularity;
  const out: number[] = [];
  const end = offset + length;
  let pos = offset;
  while (pos < end && out.length < max * 2) {
    let i = Math.floor(pos / g);
    const value = (bits[i >>> 3]! >>> (i & 7)) & 1;
    let next = (i + 1) * g;
    while (next < end && next - pos < 0x80000000) {
      i++;
      if (((bits[i >>> 3]! >>> (i & 7)) & 1) !== value) break;
      next += g;
    }
    const n = Math.min(next, end, pos + 0x80000000) - pos;
    out.push(n, value);
    pos += n;
  }
  return out;
}
