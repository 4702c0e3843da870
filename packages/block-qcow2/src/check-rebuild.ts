// check -r all: a new refcount structure written from the checker's
// in-memory counts alone, when the old one cannot be patched (a referenced
// cluster with refcount 0, a broken refcount block). Placement follows
// QEMU 7.2's rule so the repaired file has the same layout as qemu-img's:
// each refcount block goes into the first free cluster at or after the start
// of the range it describes; the table goes into the first free run; both
// steps repeat until the table's size stops changing. The old structure is
// left behind as leaks, which the caller then frees.
import { BlockError } from '@tsemu/block-core';
import { overlappedMetadata } from './check-overlap.js';
import type { InMemoryRefcounts } from './check-refs.js';
import { INCOMPAT_CORRUPT } from './constants.js';
import type { Qcow2Image } from './image.js';

/** A failed step of the rebuild: `message` is QEMU's ("ERROR writing refblock"), `code` the errno. */
export class RebuildError extends BlockError {
  constructor(readonly step: string) {
    super('EIO');
  }
}

export class RefcountRebuilder {
  private readonly cs: number;
  private readonly order: number;
  private readonly perBlock: number;
  /** The new refcount table (block offsets), grown a cluster at a time. */
  private table: number[] = [];
  private readonly block: Uint8Array;
  private readonly blockDv: DataView;

  constructor(
    private readonly img: Qcow2Image,
    private readonly refs: InMemoryRefcounts,
    private readonly emit: (line: string) => void,
  ) {
    this.cs = img.clusterSize;
    this.order = img.header.refcountOrder;
    this.perBlock = (this.cs * 8) / 2 ** this.order;
    this.block = new Uint8Array(this.cs);
    this.blockDv = new DataView(this.block.buffer);
  }

  async run(): Promise<void> {
    const cs = this.cs;
    const oldBlocks = this.img.refcounts.blockOffsets();
    let grown = await this.writeBlocks(0, this.refs.size);
    let tableOffset = -1;
    let tableClusters = 0;
    while (grown) {
      tableClusters = Math.ceil((this.table.length * 8) / cs);
      const hint = { first: 0 };
      tableOffset = this.allocate(tableClusters, hint);
      // The table's own clusters need counting in (maybe new) blocks.
      grown = await this.writeBlocks(tableOffset / cs, tableOffset / cs + tableClusters);
    }
    if (tableOffset < 0) throw new BlockError('EIO', 'ERROR allocating reftable');
    const raw = new Uint8Array(this.table.length * 8);
    const dv = new DataView(raw.buffer);
    for (let i = 0; i < this.table.length; i++) if (this.table[i]) dv.setBigUint64(i * 8, BigInt(this.table[i]!));
    const file = this.img.file;
    await this.checkOverlap(tableOffset, raw.length, 'ERROR writing reftable');
    await file.write(tableOffset, raw);
    const hdr = new Uint8Array(12);
    const hdv = new DataView(hdr.buffer);
    hdv.setBigUint64(0, BigInt(tableOffset));
    hdv.setUint32(8, tableClusters);
    await file.write(48, hdr);
    await file.flush();
    this.img.header.refcountTableOffset = tableOffset;
    this.img.header.refcountTableClusters = tableClusters;
    await this.img.refcounts.reload(tableOffset, tableClusters);
    for (const off of oldBlocks) this.img.metadataClusters.delete(Math.floor(off / cs));
    for (const off of this.table) if (off) this.img.metadataClusters.add(off / cs);
  }

  /**
   * Writes the block of every range in [first, end) holding a nonzero count,
   * allocating blocks (in the array) as needed. True if the table grew.
   */
  private async writeBlocks(first: number, end: number): Promise<boolean> {
    const refs = this.refs;
    const hint = { first: 0 };
    let grown = false;
    for (let c = first; c < end; c++) {
      if (refs.get(c) === 0) continue;
      const bi = Math.floor(c / this.perBlock);
      const start = bi * this.perBlock;
      let off = bi < this.table.length ? this.table[bi]! : 0;
      if (off === 0) {
        // Never into a range whose block is already on disk: it would go uncounted.
        if (hint.first < start) hint.first = start;
        off = this.allocate(1, hint);
        // The range holding the new block's own count must be (re)written too.
        if (off / this.cs >= end) end = off / this.cs + 1;
        if (bi >= this.table.length) {
          const entries = Math.ceil(((bi + 1) * 8) / this.cs) * (this.cs / 8);
          while (this.table.length < entries) this.table.push(0);
          grown = true;
        }
        this.table[bi] = off;
      }
      await this.checkOverlap(off, this.cs, 'ERROR writing refblock');
      refs.encodeBlock(bi, this.perBlock, this.order, this.block, this.blockDv);
      await this.img.file.write(off, this.block);
      c = start + this.perBlock - 1;
    }
    return grown;
  }

  /**
   * QEMU refuses to write over metadata the image still describes: it marks
   * the image corrupt (the first time) and the rebuild fails with EIO.
   */
  private async checkOverlap(host: number, bytes: number, step: string): Promise<void> {
    const name = await overlappedMetadata(this.img, host, bytes);
    if (name === undefined) return;
    const img = this.img;
    const what = `Preventing invalid write on metadata (overlaps with ${name})`;
    // Already marked corrupt (reported then): QEMU stays silent.
    if (img.isCorrupt) throw new RebuildError(step);
    if (img.header.version >= 3) {
      this.emit(`qcow2: Marking image as corrupt: ${what}; further corruption events will be suppressed`);
      img.header.incompatibleFeatures |= INCOMPAT_CORRUPT;
      await img.writeHeader();
    } else {
      this.emit(`qcow2: Image is corrupt: ${what}; further non-fatal corruption events will be suppressed`);
    }
    throw new RebuildError(step);
  }

  /** First run of `n` clusters with count 0 from `hint.first` (the array grows at its end); counts them 1. */
  private allocate(n: number, hint: { first: number }): number {
    const refs = this.refs;
    let c = hint.first;
    let run = 0;
    let firstGap = true;
    for (; c < refs.size && run < n; c++) {
      if (refs.get(c) === 0) {
        run++;
        if (firstGap) {
          hint.first = c;
          firstGap = false;
        }
      } else {
        run = 0;
      }
    }
    if (run < n) refs.grow(c + n - run);
    c -= run;
    for (let i = 0; i < n; i++) refs.set(c + i, 1);
    return c * this.cs;
  }
}
