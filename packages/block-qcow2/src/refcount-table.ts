// Qcow2RefcountTable: the refcount table (kept whole in memory; QEMU caps it at
// 8 MiB) and a bounded cache of refcount blocks. Allocates host clusters,
// creating refcount blocks and growing the table as needed.
//
// Callers hold the driver's metadata lock: nothing here is re-entrant.
// Changed blocks stay dirty in memory until Qcow2MetadataCache writes them
// back (before the L2 tables that depend on them); in write-through mode
// (structural operations) every change is written before the method returns.
// New refcount blocks and a grown table are always written, and flushed,
// before they are linked, so a crash can only leave leaked clusters.
import { BlockError } from '@tsemu/block-core';
import { MAX_REFTABLE_BYTES } from './constants.js';
import type { Qcow2HostFile } from './host-file.js';
import {
  entryByteSpan, getRefcount, getRefcount64, MAX_REFCOUNT_64, maxRefcount, refcountText, setRefcount, setRefcount64,
} from './refcount-codec.js';
import { cHexAlt } from './c-format.js';

interface CachedBlock {
  data: Uint8Array;
  dv: DataView;
  dirty: boolean;
}

export interface RefcountTableInit {
  file: Qcow2HostFile;
  clusterBits: number;
  refcountOrder: number;
  tableOffset: number;
  tableClusters: number;
  /** Raises (and records) a corruption; returns the error to throw. */
  corrupt(message: string): BlockError;
  /** Points the header at a new refcount table (bytes 48..59, written in one request). */
  moveTable(offset: number, clusters: number): Promise<void>;
}

/** Bytes of table checked for zeroes in one native compare (64 entries). */
const ZERO_SPAN = 512;
const ZERO_BYTES = new Uint8Array(ZERO_SPAN);

export class Qcow2RefcountTable {
  private readonly file: Qcow2HostFile;
  private readonly clusterSize: number;
  // Not readonly: amend -o refcount_bits switches the width in place (switchOrder).
  private order: number;
  /** Refcount entries per block, as a power of two. */
  private blockBits: number;
  private perBlock: number;
  private max: number;
  private table = new Float64Array(0);
  /** Every entry at or past this index is 0 (an upper bound: blockOffsets stops here). */
  private used = 0;
  private tableOffset: number;
  private tableClusters: number;
  private readonly blocks = new Map<number, CachedBlock>();
  private readonly maxCachedBlocks: number;
  private readonly init: RefcountTableInit;
  private freeHint = 0;
  /** One past the highest cluster handed out or present in the file: where table growth goes. */
  private highWater = 0;
  /** Indexes (refcount table positions) of blocks changed in memory only. */
  private readonly dirtyBlocks = new Set<number>();
  /** Some dirty block holds a decrement (must follow the L2 writes that dropped the references). */
  hasDecrements = false;
  /** Write every change at once instead of marking blocks dirty (see Qcow2Image.writeThrough). */
  writeThrough = false;
  /** Clusters chosen but not yet counted; the free-cluster search skips them. */
  private readonly reserved: Array<[number, number]> = [];

  constructor(init: RefcountTableInit) {
    this.init = init;
    this.file = init.file;
    this.clusterSize = 2 ** init.clusterBits;
    this.order = init.refcountOrder;
    this.blockBits = init.clusterBits + 3 - init.refcountOrder;
    this.perBlock = 2 ** this.blockBits;
    this.max = maxRefcount(init.refcountOrder);
    this.tableOffset = init.tableOffset;
    this.tableClusters = init.tableClusters;
    this.maxCachedBlocks = Math.max(4, Math.floor((8 << 20) / this.clusterSize));
  }

  get offset(): number {
    return this.tableOffset;
  }

  /** Largest refcount an entry holds. */
  get maxValue(): number {
    return this.max;
  }

  get clusters(): number {
    return this.tableClusters;
  }

  async load(): Promise<void> {
    const bytes = this.tableClusters * this.clusterSize;
    const raw = new Uint8Array(bytes);
    await this.file.read(this.tableOffset, raw);
    const dv = new DataView(raw.buffer);
    const n = bytes / 8;
    this.table = new Float64Array(n);
    // Most of a table is zeroes (one block covers GiBs): a native compare per
    // ZERO_SPAN bytes skips them, so an open decodes only the entries in use
    // instead of running the loop over every entry of a 64 KiB+ table.
    const view = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    let used = 0;
    for (let at = 0; at < bytes; at += ZERO_SPAN) {
      const end = Math.min(at + ZERO_SPAN, bytes);
      if (view.compare(ZERO_BYTES, 0, end - at, at, end) === 0) continue;
      for (let i = at / 8; i < end / 8; i++) {
        // Bits 9..63 hold the offset; bits 0..8 are reserved and ignored.
        const e = (dv.getUint32(i * 8) * 4294967296) + ((dv.getUint32(i * 8 + 4) & 0xfffffe00) >>> 0);
        this.table[i] = e;
        if (e !== 0) used = i + 1;
      }
    }
    this.used = used;
    this.highWater = Math.ceil(this.file.size / this.clusterSize);
  }

  /**
   * Switches to a refcount table already written at `offset` (check -r all's
   * rebuild, which also updated the header): cached blocks are dropped.
   */
  async reload(offset: number, clusters: number): Promise<void> {
    this.blocks.clear();
    this.dirtyBlocks.clear();
    this.hasDecrements = false;
    this.tableOffset = offset;
    this.tableClusters = clusters;
    this.freeHint = 0;
    await this.load();
  }

  /**
   * Switches to a refcount table of another entry width, already written at
   * `offset` (amend -o refcount_bits, after the header names it).
   */
  async switchOrder(order: number, offset: number, clusters: number): Promise<void> {
    this.order = order;
    this.blockBits = Math.log2(this.clusterSize) + 3 - order;
    this.perBlock = 2 ** this.blockBits;
    this.max = maxRefcount(order);
    await this.reload(offset, clusters);
  }

  /** Number of entries in the table (blocks it can name). */
  get entries(): number {
    return this.table.length;
  }

  /** Host offset of refcount block `bi` (0: none). */
  entryAt(bi: number): number {
    return this.table[bi] ?? 0;
  }

  /** Refcount entries per block. */
  get entriesPerBlock(): number {
    return this.perBlock;
  }

  /** The live cached bytes of refcount block `bi` (null: no block); valid until the next call that may evict. */
  async blockData(bi: number): Promise<{ data: Uint8Array; dv: DataView } | null> {
    return this.loadBlock(bi);
  }

  /** Offsets of all refcount blocks (for metadata overlap checks). */
  blockOffsets(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.used; i++) if (this.table[i]) out.push(this.table[i]!);
    return out;
  }

  /** Set by the checker while repairing: clusters it knows are referenced are never handed out. */
  isInUse: ((cluster: number) => boolean) | undefined;

  /** Called for every cluster whose refcount drops to 0. */
  onClusterFreed: ((cluster: number) => void) | undefined;

  /** Called with the host offset of every refcount block this table creates. */
  onBlockCreated: (offset: number) => void = () => {};

  async get(cluster: number): Promise<number> {
    const bi = Math.floor(cluster / this.perBlock);
    const blk = await this.loadBlock(bi);
    return blk ? getRefcount(blk.data, blk.dv, this.order, cluster - bi * this.perBlock) : 0;
  }

  /** The refcount as text, exact also for 64-bit values above 2^53 (for check's messages). */
  async getText(cluster: number): Promise<string> {
    const bi = Math.floor(cluster / this.perBlock);
    const blk = await this.loadBlock(bi);
    if (!blk) return '0';
    const i = cluster - bi * this.perBlock;
    return refcountText(blk.dv, this.order, i, getRefcount(blk.data, blk.dv, this.order, i));
  }

  /** Allocates `n` contiguous clusters with refcount 1; returns the host offset. */
  async allocate(n: number): Promise<number> {
    const start = await this.findFree(n);
    // As QEMU's free_cluster_index: the next search starts after this run (a
    // hole a run skipped stays unused until a free lowers the hint), which
    // gives qemu-img's layouts (e.g. resize --preallocation=metadata).
    const next = start + n;
    const hintBefore = this.freeHint;
    this.reserved.push([start, start + n]);
    try {
      await this.update(start, n, 1);
    } finally {
      this.reserved.pop();
    }
    // A cluster freed meanwhile lowered the hint: keep the lower one.
    this.freeHint = this.freeHint < hintBefore ? Math.min(this.freeHint, next) : next;
    if (start + n > this.highWater) this.highWater = start + n;
    return start * this.clusterSize;
  }

  /** Adds `delta` to the refcount of `n` clusters from `cluster`; returns how many reached zero. */
  async update(cluster: number, n: number, delta: number): Promise<number> {
    let freed = 0;
    let c = cluster;
    const end = cluster + n;
    if (delta > 0 && end > this.highWater) this.highWater = end;
    while (c < end) {
      const bi = Math.floor(c / this.perBlock);
      // Decrements never create blocks: a missing block means the count is already 0.
      const blk = delta < 0 ? await this.loadBlock(bi) : await this.ensureBlock(bi);
      if (blk === null) throw this.init.corrupt(`Refcount underflow for cluster ${cHexAlt(c * this.clusterSize)}`);
      const base = bi * this.perBlock;
      const stop = Math.min(end, base + this.perBlock);
      for (let x = c; x < stop; x++) {
        const i = x - base;
        let v = getRefcount(blk.data, blk.dv, this.order, i) + delta;
        if (v > this.max && this.order >= 6) {
          v = this.update64(blk.dv, i, x, delta); // beyond 2^53: exact, in BigInt
        } else {
          if (v < 0) throw this.init.corrupt(`Refcount underflow for cluster ${cHexAlt(x * this.clusterSize)}`);
          if (v > this.max) throw new BlockError('EINVAL', 'Refcount overflow') // QEMU's update_refcount: -EINVAL;
          setRefcount(blk.data, blk.dv, this.order, i, v);
        }
        if (v === 0) {
          freed++;
          if (this.onClusterFreed !== undefined) this.onClusterFreed(x);
          if (x < this.freeHint) this.freeHint = x;
        }
      }
      if (this.writeThrough) {
        await this.writeEntries(bi, blk, c - base, stop - 1 - base);
      } else {
        if (delta < 0) this.hasDecrements = true;
        this.markDirty(bi, blk);
      }
      c = stop;
    }
    return freed;
  }

  /** The rare 64-bit update past 2^53: exact arithmetic, QEMU's overflow and underflow errors. */
  private update64(dv: DataView, i: number, cluster: number, delta: number): number {
    const v = getRefcount64(dv, i) + BigInt(delta);
    if (v < 0n) throw this.init.corrupt(`Refcount underflow for cluster ${cHexAlt(cluster * this.clusterSize)}`);
    if (v > MAX_REFCOUNT_64) throw new BlockError('EINVAL', 'Refcount overflow') // QEMU's update_refcount: -EINVAL;
    setRefcount64(dv, i, v);
    return Number(v);
  }

  /**
   * Sets the refcount of one cluster to `value` (check's repair of a 64-bit
   * count above 2^53, where `value - stored` is not exact as a number).
   */
  async assign(cluster: number, value: number): Promise<void> {
    const bi = Math.floor(cluster / this.perBlock);
    const blk = await this.loadBlock(bi);
    if (blk === null) {
      if (value !== 0) await this.update(cluster, 1, value);
      return;
    }
    const i = cluster - bi * this.perBlock;
    if (this.order >= 6) setRefcount64(blk.dv, i, BigInt(value));
    else setRefcount(blk.data, blk.dv, this.order, i, value);
    if (value === 0) {
      if (this.onClusterFreed !== undefined) this.onClusterFreed(cluster);
      if (cluster < this.freeHint) this.freeHint = cluster;
    }
    if (this.writeThrough) await this.writeEntries(bi, blk, i, i);
    else this.markDirty(bi, blk);
  }

  get dirtyCount(): number {
    return this.dirtyBlocks.size;
  }

  /** More blocks cached than the bound, because dirty ones cannot be evicted. */
  get overCapacity(): boolean {
    return this.blocks.size > this.maxCachedBlocks && this.dirtyBlocks.size > 0;
  }

  private markDirty(bi: number, blk: CachedBlock): void {
    if (blk.dirty) return;
    blk.dirty = true;
    this.dirtyBlocks.add(bi);
  }

  /** Writes every dirty block whole (caller: Qcow2MetadataCache, which orders it against the L2 tables). */
  async writeBack(): Promise<void> {
    for (const bi of this.dirtyBlocks) {
      const blk = this.blocks.get(bi)!;
      blk.dirty = false;
      this.dirtyBlocks.delete(bi);
      try {
        await this.file.write(this.table[bi]!, blk.data);
      } catch (err) {
        this.markDirty(bi, blk);
        throw err;
      }
    }
    this.hasDecrements = false;
    this.evictClean();
  }

  /** Drops the least recently used clean blocks beyond the bound (dirty ones must be written first). */
  private evictClean(): void {
    if (this.blocks.size <= this.maxCachedBlocks) return;
    for (const [bi, blk] of this.blocks) {
      if (this.blocks.size <= this.maxCachedBlocks) return;
      if (!blk.dirty) this.blocks.delete(bi);
    }
  }

  private async writeEntries(bi: number, blk: CachedBlock, first: number, last: number): Promise<void> {
    const [from, to] = entryByteSpan(this.order, first, last);
    await this.file.write(this.table[bi]! + from, blk.data.subarray(from, to));
  }

  private async loadBlock(bi: number): Promise<CachedBlock | null> {
    if (!(bi >= 0 && bi < this.table.length)) return null;
    const off = this.table[bi]!;
    if (off === 0) return null;
    const hit = this.blocks.get(bi);
    if (hit) {
      // Map order is the LRU order.
      this.blocks.delete(bi);
      this.blocks.set(bi, hit);
      return hit;
    }
    if (off % this.clusterSize !== 0) {
      throw this.init.corrupt(`Refblock offset ${cHexAlt(off)} unaligned (reftable index: ${cHexAlt(bi)})`);
    }
    const data = new Uint8Array(this.clusterSize);
    await this.file.read(off, data);
    // Another task may have loaded it meanwhile (reads run unlocked); keep one copy.
    const again = this.blocks.get(bi);
    if (again) return again;
    const blk: CachedBlock = { data, dv: new DataView(data.buffer), dirty: false };
    this.blocks.set(bi, blk);
    this.evictClean();
    return blk;
  }

  private isReserved(c: number): boolean {
    for (const [s, e] of this.reserved) if (c >= s && c < e) return true;
    return false;
  }

  /** First run of `n` free clusters from the hint (clusters no block describes are free). */
  private async findFree(n: number): Promise<number> {
    let c = this.freeHint;
    let start = c;
    let run = 0;
    for (;;) {
      const bi = Math.floor(c / this.perBlock);
      const blk = await this.loadBlock(bi);
      const base = bi * this.perBlock;
      const end = base + this.perBlock;
      for (; c < end; c++) {
        if ((blk && getRefcount(blk.data, blk.dv, this.order, c - base) !== 0) || this.isReserved(c) ||
            (this.isInUse !== undefined && this.isInUse(c))) {
          run = 0;
          start = c + 1;
          continue;
        }
        if (++run === n) return start;
      }
      if (start * this.clusterSize >= 2 ** 56) throw new BlockError('EFBIG', 'Image is too large');
    }
  }

  /** The block for range `bi`, created (and the table grown) if missing. */
  private async ensureBlock(bi: number): Promise<CachedBlock> {
    if (bi >= this.table.length) await this.growTable(bi + 1);
    const existing = await this.loadBlock(bi);
    if (existing) return existing;
    const c = await this.findFree(1);
    const data = new Uint8Array(this.clusterSize);
    const blk: CachedBlock = { data, dv: new DataView(data.buffer), dirty: false };
    if (Math.floor(c / this.perBlock) === bi) {
      // The block describes itself.
      setRefcount(data, blk.dv, this.order, c - bi * this.perBlock, 1);
    } else {
      this.reserved.push([c, c + 1]);
      try {
        await this.update(c, 1, 1);
      } finally {
        this.reserved.pop();
      }
    }
    if (c + 1 > this.highWater) this.highWater = c + 1;
    const off = c * this.clusterSize;
    this.onBlockCreated(off);
    await this.file.write(off, data);
    // Whatever counts the new block (itself, or a dirty block) is stable before the table names it.
    if (this.dirtyBlocks.size > 0) {
      // A dirty decrement must not reach the file before an earlier L2 write is stable.
      if (this.hasDecrements) await this.file.flush();
      await this.writeBack();
    }
    await this.file.flush();
    await this.writeTableEntry(bi, off);
    this.blocks.set(bi, blk);
    return blk;
  }

  /**
   * QEMU's qcow2_refcount_area (exact size): new refcount structures at
   * `start` (a free area at the end of the image) covering the image plus
   * `additional` clusters: the missing refcount blocks, then a new table
   * (old entries kept), every cluster of that area counted once. Blocks and
   * table are written and flushed before the header switches to the table;
   * the old table is freed after. Returns the first offset after the area.
   */
  async refcountArea(start: number, additional: number): Promise<number> {
    const cs = this.clusterSize;
    const blocksNeeded = refcountBlocksFor(start / cs + additional, cs, this.order);
    if (blocksNeeded > MAX_REFTABLE_BYTES) throw new BlockError('EFBIG', 'File too large');
    const areaIndex = Math.floor(start / cs / this.perBlock);
    const perTableCluster = cs / 8;
    const tableSize = Math.ceil(blocksNeeded / perTableCluster) * perTableCluster;
    if (tableSize > MAX_REFTABLE_BYTES) throw new BlockError('EFBIG', 'File too large');
    const tableClusters = (tableSize * 8) / cs;
    const newTable = new Float64Array(tableSize);
    newTable.set(this.table.subarray(0, Math.min(tableSize, this.table.length)));
    let missing = 0;
    for (let i = areaIndex; i < blocksNeeded; i++) if (newTable[i] === 0) missing++;
    const tableOffset = start + missing * cs;
    const end = tableOffset + tableClusters * cs;
    let blockOffset = start;
    for (let i = areaIndex; i < blocksNeeded; i++) {
      let blk: CachedBlock;
      if (newTable[i] !== 0) {
        blk = (await this.loadBlock(i))!;
      } else {
        const data = new Uint8Array(cs);
        blk = { data, dv: new DataView(data.buffer), dirty: false };
        newTable[i] = blockOffset;
        this.onBlockCreated(blockOffset);
        blockOffset += cs;
      }
      const first = i * this.perBlock * cs;
      if (first < end) {
        const from = first < start ? (start - first) / cs : 0;
        const to = Math.min((end - first) / cs, this.perBlock);
        for (let j = from; j < to; j++) setRefcount(blk.data, blk.dv, this.order, j, 1);
      }
      await this.file.write(newTable[i]!, blk.data);
      this.blocks.set(i, blk);
    }
    await this.file.flush();
    const raw = new Uint8Array(tableSize * 8);
    const rdv = new DataView(raw.buffer);
    for (let i = 0; i < tableSize; i++) if (newTable[i]) rdv.setBigUint64(i * 8, BigInt(newTable[i]!));
    await this.file.write(tableOffset, raw);
    await this.file.flush();
    await this.init.moveTable(tableOffset, tableClusters);
    const oldOffset = this.tableOffset;
    const oldClusters = this.tableClusters;
    this.table = newTable;
    this.used = newTable.length;
    this.tableOffset = tableOffset;
    this.tableClusters = tableClusters;
    if (end / cs > this.highWater) this.highWater = end / cs;
    await this.update(oldOffset / cs, oldClusters, -1);
    return end;
  }

  private async writeTableEntry(bi: number, off: number): Promise<void> {
    const e = new Uint8Array(8);
    new DataView(e.buffer).setBigUint64(0, BigInt(off));
    await this.file.write(this.tableOffset + bi * 8, e);
    this.table[bi] = off;
    if (bi >= this.used) this.used = bi + 1;
  }

  /**
   * Moves the table to the end of the image with room for `minEntries`
   * blocks. New refcount blocks for the new area go right before the new
   * table and count themselves and it, so the header switch is the only step
   * that makes anything reachable; a crash before it leaks at most.
   */
  private async growTable(minEntries: number): Promise<void> {
    const cs = this.clusterSize;
    const oldEntries = this.table.length;
    // Bounded before anything is computed or allocated (QEMU's 8 MiB cap on the table).
    if (minEntries * 8 > MAX_REFTABLE_BYTES) throw new BlockError('EFBIG', 'Refcount table too large');
    let start = Math.max(this.highWater, Math.ceil(this.file.size / cs));
    for (const [, e] of this.reserved) start = Math.max(start, e);
    let wanted = Math.max(minEntries, Math.ceil(oldEntries * 1.5), 1);
    let tc = 0;
    let newBlocks: number[] = [];
    for (let iter = 0; iter < 64; iter++) {
      const total = tc + newBlocks.length;
      const lastRange = Math.floor((start + Math.max(total, 1) - 1) / this.perBlock);
      wanted = Math.max(wanted, lastRange + 1);
      const nextTc = Math.ceil((wanted * 8) / cs);
      const ranges: number[] = [];
      for (let r = Math.floor(start / this.perBlock); r <= lastRange; r++) {
        if (r >= oldEntries || this.table[r] === 0) ranges.push(r);
      }
      if (nextTc === tc && ranges.length === newBlocks.length) break;
      tc = nextTc;
      newBlocks = ranges;
    }
    if (tc * cs > MAX_REFTABLE_BYTES) throw new BlockError('EFBIG', 'Refcount table too large');
    const total = newBlocks.length + tc;
    const tableStart = start + newBlocks.length;
    // Existing blocks covering part of the new area count it first.
    const end = start + total;
    for (let r = Math.floor(start / this.perBlock); r * this.perBlock < end; r++) {
      if (r < oldEntries && this.table[r] !== 0) {
        const blk = (await this.loadBlock(r))!;
        const base = r * this.perBlock;
        const from = Math.max(start, base) - base;
        const to = Math.min(end, base + this.perBlock) - base;
        for (let i = from; i < to; i++) setRefcount(blk.data, blk.dv, this.order, i, getRefcount(blk.data, blk.dv, this.order, i) + 1);
        await this.writeEntries(r, blk, from, to - 1);
      }
    }
    const newTable = new Float64Array(Math.floor((tc * cs) / 8));
    newTable.set(this.table);
    for (let k = 0; k < newBlocks.length; k++) {
      const r = newBlocks[k]!;
      const data = new Uint8Array(cs);
      const dv = new DataView(data.buffer);
      const base = r * this.perBlock;
      for (let c = Math.max(start, base); c < Math.min(end, base + this.perBlock); c++) setRefcount(data, dv, this.order, c - base, 1);
      await this.file.write((start + k) * cs, data);
      newTable[r] = (start + k) * cs;
      this.onBlockCreated((start + k) * cs);
      this.blocks.set(r, { data, dv, dirty: false });
    }
    const raw = new Uint8Array(tc * cs);
    const rdv = new DataView(raw.buffer);
    for (let i = 0; i < newTable.length; i++) if (newTable[i]) rdv.setBigUint64(i * 8, BigInt(newTable[i]!));
    await this.file.write(tableStart * cs, raw);
    await this.file.flush();
    const oldOffset = this.tableOffset;
    const oldClusters = this.tableClusters;
    await this.init.moveTable(tableStart * cs, tc);
    this.table = newTable;
    this.used = newTable.length;
    this.tableOffset = tableStart * cs;
    this.tableClusters = tc;
    if (end > this.highWater) this.highWater = end;
    // The old table is garbage now; give its clusters back.
    await this.update(oldOffset / cs, oldClusters, -1);
  }
}

/** Refcount blocks needed to count `clusters` clusters plus the refcount structures themselves (QEMU's fixed point). */
export function refcountBlocksFor(clusters: number, cs: number, order: number): number {
  const perTableCluster = cs / 8;
  const perBlock = (cs * 8) / 2 ** order;
  let table = 0;
  let blocks = 0;
  let n = 0;
  let last: number;
  do {
    last = n;
    blocks = Math.ceil((clusters + table + blocks) / perBlock);
    table = Math.ceil(blocks / perTableCluster);
    n = clusters + blocks + table;
  } while (n !== last);
  return blocks;
}
