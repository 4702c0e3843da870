// The checker's in-memory refcount array (QEMU calls it the IMRT): one count
// per host cluster, computed from the metadata. `size` is the logical number
// of clusters it covers (the file's clusters, grown by references just past
// the end and by the rebuild's allocations); compare walks exactly that many.
import { setRefcount } from './refcount-codec.js';

export class InMemoryRefcounts {
  counts: Uint32Array;
  size: number;
  /** Largest count an entry of the image's width holds (the rebuild writes the array as refcount blocks). */
  readonly max: number;

  constructor(size: number, max: number) {
    this.size = size;
    this.counts = new Uint32Array(Math.max(1, size));
    this.max = Math.min(max, 0xffffffff);
  }

  get(c: number): number {
    return c < this.size ? this.counts[c]! : 0;
  }

  set(c: number, v: number): void {
    this.grow(c + 1);
    this.counts[c] = v;
  }

  /** Covers at least `n` clusters (never shrinks). */
  grow(n: number): void {
    if (n <= this.size) return;
    if (n > this.counts.length) {
      const next = new Uint32Array(Math.max(n, this.counts.length * 2));
      next.set(this.counts);
      this.counts = next;
    }
    this.size = n;
  }

  clear(): void {
    this.counts.fill(0);
  }

  /** Refcount block `bi` as it goes to disk: a slice of the array in the image's entry width. */
  encodeBlock(bi: number, perBlock: number, order: number, out: Uint8Array, dv: DataView): void {
    out.fill(0);
    const base = bi * perBlock;
    const end = Math.min(this.size, base + perBlock);
    for (let c = base; c < end; c++) {
      const v = this.counts[c]!;
      if (v !== 0) setRefcount(out, dv, order, c - base, v);
    }
  }
}

/** QEMU's %#x: "0x" prefix, except for zero. */
export function hexAlt(n: number): string {
  return n === 0 ? '0' : `0x${n.toString(16)}`;
}

/** A 64-bit table entry from its two big-endian halves, as %PRIx64 prints it. */
export function hex64(hi: number, lo: number): string {
  return ((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString(16);
}
