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
  /** While not null, every cluster whose refcount drops to 0 is appended (snapshot operations discard them afterwards). */
  freedLog: number[] | null = null;

  /** Called with the host offset of every refcount block this table creates. */
  onBlockCreated: (offset: number) => void = () => {};

  async get(cluster: number): Promise<number> {
    const bi = Math.floor(cluster / this.perBlock);
    const blk = await this.loadBlock(bi);
    return blk ? getRefcount(blk.data, blk.dv, this.order, cluster - bi * this.perBlock) : 0;
  }

  /** The cluster allocate(1) would look at first: the first free one from the hint (nothing counted, hint unchanged). */
  async firstFree(): Promise<number> {
    return this.findFree(1);
  }

  /** True when a refcount block describes `cluster` (counting it needs no new block). */
  async hasBlockFor(cluster: number): Promise<boolean> {
    return (await this.loadBlock(Math.floor(cluster / this.perBlock))) !== null;
  }

  /** One past the last cluster below `clusters` whose refcount is not 0 (0 when none is). */
  async endOfUse(clusters: number): Promise<number> {
    let end = clusters;
    while (end > 0 && (await this.get(end - 1)) === 0) end--;
    return end;
  }

  /** The refcount as text, exact also for 64-bit values above 2^53 (for check's messages). */
  async getText(cluster: number): Promise<string> {
    const bi = Math.floor(cluster / this.perBlock);
    const blk = await this.loadBlock(bi);
    if (!blk) return '0';
    const i = cluster - bi * this.perBlock;
    return refcountText(blk.dv, this.order, i, getRefcount(blk.data, blk.dv, this.order, i));
  }

  /**
   * Allocates `n` contiguous clusters with refcount 1; returns the host offset.
   * As QEMU's qcow2_alloc_clusters: the search starts at the free-cluster
   * hint, which moves past the run found (a hole a run skipped stays unused
   * until a free lowers the hint). If counting the run needs a new refcount
   * block, the block is made first (after the run, from the hint), the counts
   * already taken are given back, and the search starts over: that is where
   * qemu-img puts the run, the block and a grown table.
   */
  async allocate(n: number): Promise<number> {
    for (;;) {
      const start = await this.findFree(n);
      this.freeHint = start + n;
      if (await this.countNew(start, n)) return start * this.clusterSize;
    }
  }

  /**
   * allocate() without waiting, for the hot path (a convert allocates a run
   * per 2 MiB write): when the search and the counting touch only cached
   * blocks and need no new block, the same run is found and counted here,
   * synchronously; else -1 and nothing changed (the caller awaits allocate()).
   */
  allocateCached(n: number): number {
    if (this.writeThrough) return -1;
    const start = this.findFreeCached(n);
    if (start < 0) return -1;
    const end = start + n;
    // countNew would make a block (and start over) where one is missing: only whole runs of cached blocks here.
    for (let bi = Math.floor(start / this.perBlock); bi * this.perBlock < end; bi++) {
      const blk = this.cachedBlock(bi);
      if (blk === null || blk === undefined) return -1;
    }
    this.freeHint = end;
    for (let c = start; c < end;) {
      const bi = Math.floor(c / this.perBlock);
      const stop = Math.min(end, (bi + 1) * this.perBlock);
      const blk = this.cachedBlock(bi)!;
      this.addToBlock(blk, bi, c, stop, 1);
      this.markDirty(bi, blk);
      c = stop;
    }
    return start * this.clusterSize;
  }

  /**
   * Allocates up to `n` clusters exactly at cluster `start` (QEMU's
   * qcow2_alloc_clusters_at, which a write uses to continue its previous
   * run on the host): as many as are free there, counted; returns how many
   * (0: the caller allocates elsewhere). The free-cluster hint is left alone.
   */
  async allocateAt(start: number, n: number): Promise<number> {
    for (;;) {
      let free = 0;
      while (free < n && (await this.get(start + free)) === 0) free++;
      if (free === 0 || (await this.countNew(start, free))) return free;
    }
  }

  /**
   * Counts the free run [start, start + n) once. False when a refcount block
   * had to be made instead: the run's counts are rolled back (which lowers
   * the hint back to the run) and the caller searches again.
   */
  private async countNew(start: number, n: number): Promise<boolean> {
    const end = start + n;
    for (let c = start; c < end;) {
      const bi = Math.floor(c / this.perBlock);
      const stop = Math.min(end, (bi + 1) * this.perBlock);
      if ((await this.loadBlock(bi)) === null) {
        await this.newBlock(bi, c);
        // As QEMU: the search starts again at this run (it may still be free).
        if (this.freeHint > start) this.freeHint = start;
        if (c > start) {
          // Counts nobody references yet, never written back: not a decrement
          // that must wait for L2 writes.
          const had = this.hasDecrements;
          await this.update(start, c - start, -1);
          this.hasDecrements = had;
        }
        return false;
      }
      await this.update(c, stop - c, 1);
      c = stop;
    }
    return true;
  }

  /**
   * QEMU's qcow2_free_clusters: one decrement for `n` clusters from `cluster`.
   * If any count is already 0 (a damaged image) nothing changes and -1 comes
   * back: QEMU undoes the part it did, reports EINVAL and goes on, without a
   * corruption event. Else how many counts reached zero.
   */
  async free(cluster: number, n: number): Promise<number> {
    const end = cluster + n;
    for (let c = cluster; c < end;) {
      const bi = Math.floor(c / this.perBlock);
      const stop = Math.min(end, (bi + 1) * this.perBlock);
      const blk = await this.loadBlock(bi);
      if (blk === null) return -1;
      for (let x = c; x < stop; x++) if (getRefcount(blk.data, blk.dv, this.order, x - bi * this.perBlock) === 0) return -1;
      c = stop;
    }
    return this.update(cluster, n, -1);
  }

  /** Adds `delta` to the refcount of `n` clusters from `cluster`; returns how many reached zero. */
  async update(cluster: number, n: number, delta: number): Promise<number> {
    let freed = 0;
    let c = cluster;
    const end = cluster + n;
    while (c < end) {
      const bi = Math.floor(c / this.perBlock);
      // Decrements never create blocks: a missing block means the count is already 0.
      const blk = delta < 0 ? await this.loadBlock(bi) : await this.ensureBlock(bi, c, end);
      if (blk === null) throw this.init.corrupt(`Refcount underflow for cluster ${cHexAlt(c * this.clusterSize)}`);
      const base = bi * this.perBlock;
      const stop = Math.min(end, base + this.perBlock);
      freed += this.addToBlock(blk, bi, c, stop, delta);
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

  /**
   * Adds `delta` to the counts of clusters [c, stop), all in block `bi`;
   * returns how many reached zero. Synchronous and small: the per-cluster
   * loop of update() and allocateCached().
   */
  private addToBlock(blk: CachedBlock, bi: number, c: number, stop: number, delta: number): number {
    const base = bi * this.perBlock;
    let freed = 0;
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
        if (this.freedLog !== null) this.freedLog.push(x);
        if (x < this.freeHint) this.freeHint = x;
      }
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

  /** Block `bi` without I/O: the cached block (now most recently used), null when there is none, undefined when it must be read. */
  private cachedBlock(bi: number): CachedBlock | null | undefined {
    if (!(bi >= 0 && bi < this.table.length)) return null;
    if (this.table[bi] === 0) return null;
    const hit = this.blocks.get(bi);
    if (hit !== undefined) {
      // Map order is the LRU order.
      this.blocks.delete(bi);
      this.blocks.set(bi, hit);
    }
    return hit;
  }

  private async loadBlock(bi: number): Promise<CachedBlock | null> {
    const cached = this.cachedBlock(bi);
    if (cached !== undefined) return cached;
    const off = this.table[bi]!;
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

  /** Where the free-cluster search stands between blocks (findFree / findFreeCached). */
  private scanAt = 0;
  private scanStart = 0;
  private scanRun = 0;

  /** First run of `n` free clusters from the hint (clusters no block describes are free). */
  private async findFree(n: number): Promise<number> {
    this.scanAt = this.scanStart = this.freeHint;
    this.scanRun = 0;
    for (;;) {
      const bi = Math.floor(this.scanAt / this.perBlock);
      if (this.scanBlock(await this.loadBlock(bi), bi, n)) return this.scanStart;
      if (this.scanStart * this.clusterSize >= 2 ** 56) throw new BlockError('EFBIG', 'Image is too large');
    }
  }

  /** findFree() over cached blocks only: -1 when it would have to read a block (nothing changed). */
  private findFreeCached(n: number): number {
    this.scanAt = this.scanStart = this.freeHint;
    this.scanRun = 0;
    for (;;) {
      const bi = Math.floor(this.scanAt / this.perBlock);
      const blk = this.cachedBlock(bi);
      if (blk === undefined) return -1;
      if (this.scanBlock(blk, bi, n)) return this.scanStart;
      if (this.scanStart * this.clusterSize >= 2 ** 56) return -1; // findFree reports it
    }
  }

  /** Scans the clusters of block `bi` from scanAt; true when the run of `n` is complete (at scanStart). */
  private scanBlock(blk: CachedBlock | null, bi: number, n: number): boolean {
    const base = bi * this.perBlock;
    const end = base + this.perBlock;
    const checkOthers = this.reserved.length > 0 || this.isInUse !== undefined;
    let c = this.scanAt;
    let start = this.scanStart;
    let run = this.scanRun;
    for (; c < end; c++) {
      if ((blk !== null && getRefcount(blk.data, blk.dv, this.order, c - base) !== 0) ||
          (checkOthers && (this.isReserved(c) || (this.isInUse !== undefined && this.isInUse(c))))) {
        run = 0;
        start = c + 1;
        continue;
      }
      if (++run === n) {
        this.scanStart = start;
        return true;
      }
    }
    this.scanAt = c;
    this.scanStart = start;
    this.scanRun = run;
    return false;
  }

  /** The block for range `bi`, created (and the table grown) if missing (`update` of clusters already chosen). */
  private async ensureBlock(bi: number, first: number, end: number): Promise<CachedBlock> {
    for (;;) {
      const existing = await this.loadBlock(bi);
      if (existing) return existing;
      // The clusters being counted are not free for the new block.
      this.reserved.push([first, end]);
      try {
        await this.newBlock(bi, first);
        if (this.freeHint > first) this.freeHint = first;
      } finally {
        this.reserved.pop();
      }
    }
  }

  /**
   * Makes a refcount block for range `bi` (needed to count cluster
   * `forCluster`), as QEMU's alloc_refcount_block: the block takes the next
   * free cluster from the hint; it counts itself if it lies in its own range,
   * else it is counted like any cluster (which may first need yet another
   * block: then that one is made and this returns without making `bi`'s, the
   * caller looks again). A full table grows through refcountArea at the first
   * range boundary past everything in use. Block and counts are written and
   * flushed before the table names the block.
   */
  private async newBlock(bi: number, forCluster: number): Promise<void> {
    const c = await this.findFree(1);
    // Only broken refcounts give cluster 0 (the header) away.
    if (c === 0) throw this.init.corrupt('Preventing invalid allocation of refcount block at offset 0');
    this.freeHint = c + 1;
    const data = new Uint8Array(this.clusterSize);
    const blk: CachedBlock = { data, dv: new DataView(data.buffer), dirty: false };
    if (Math.floor(c / this.perBlock) === bi) {
      setRefcount(data, blk.dv, this.order, c - bi * this.perBlock, 1); // the block describes itself
    } else if (!(await this.countNew(c, 1))) {
      return;
    }
    const off = c * this.clusterSize;
    this.onBlockCreated(off);
    await this.file.write(off, data);
    // Whatever counts the new block (itself, or a dirty block) is stable before the table names it.
    await this.writeBackOrdered();
    await this.file.flush();
    if (bi < this.table.length) {
      await this.writeTableEntry(bi, off);
      this.blocks.set(bi, blk);
      this.evictClean();
      return;
    }
    this.blocks.set(bi, blk);
    const blocksUsed = Math.ceil(Math.max(forCluster + 1, c + 1) / this.perBlock);
    await this.refcountArea(blocksUsed * this.perBlock * this.clusterSize, 0, { generous: true, index: bi, offset: off });
  }

  /** Writes the dirty blocks back; a dirty decrement must not reach the file before an earlier L2 write is stable. */
  private async writeBackOrdered(): Promise<void> {
    if (this.dirtyBlocks.size === 0) return;
    if (this.hasDecrements) await this.file.flush();
    await this.writeBack();
  }

  /**
   * QEMU's qcow2_refcount_area: new refcount structures at `start` (a free
   * area past everything in use) covering the image plus `additional`
   * clusters: the missing refcount blocks, then a new table (old entries
   * kept, `grow.index` naming the block just made at `grow.offset`), every
   * cluster of that area counted once. Preallocation sizes it exactly; a
   * table that fills up during allocation grows `generous`ly (room for half
   * as many blocks again). Blocks and table are written and flushed before
   * the header switches to the table; the old table is freed after. Returns
   * the first offset after the area.
   */
  async refcountArea(start: number, additional: number, grow?: { generous: true; index: number; offset: number }): Promise<number> {
    const cs = this.clusterSize;
    const generous = grow !== undefined;
    const blocksNeeded = refcountBlocksFor(start / cs + additional, cs, this.order, generous);
    if (blocksNeeded > MAX_REFTABLE_BYTES) throw new BlockError('EFBIG', 'File too large');
    const areaIndex = Math.floor(start / cs / this.perBlock);
    const perTableCluster = cs / 8;
    const entries = generous ? blocksNeeded + Math.ceil(blocksNeeded / 2) : blocksNeeded;
    const tableSize = Math.ceil(entries / perTableCluster) * perTableCluster;
    if (tableSize > MAX_REFTABLE_BYTES) throw new BlockError('EFBIG', 'File too large');
    // Blocks still dirty (counts of the block just made) reach the file first.
    await this.writeBackOrdered();
    const tableClusters = (tableSize * 8) / cs;
    const newTable = new Float64Array(tableSize);
    newTable.set(this.table.subarray(0, Math.min(tableSize, this.table.length)));
    if (grow !== undefined) newTable[grow.index] = grow.offset;
    let missing = 0;
    for (let i = areaIndex; i < blocksNeeded; i++) if (newTable[i] === 0) missing++;
    const tableOffset = start + missing * cs;
    const end = tableOffset + tableClusters * cs;
    let blockOffset = start;
    for (let i = areaIndex; i < blocksNeeded; i++) {
      let blk: CachedBlock;
      if (newTable[i] !== 0) {
        blk = i < this.table.length ? (await this.loadBlock(i))! : this.blocks.get(i)!;
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
}

/**
 * Refcount blocks needed to count `clusters` clusters plus the refcount
 * structures themselves (QEMU's fixed point). `generous`: once stable, room
 * for half the table's clusters again is added and the point found anew (a
 * table grown during allocation is sized so).
 */
export function refcountBlocksFor(clusters: number, cs: number, order: number, generous = false): number {
  const perTableCluster = cs / 8;
  const perBlock = (cs * 8) / 2 ** order;
  let table = 0;
  let blocks = 0;
  let n = 0;
  let last: number;
  let extra = generous;
  do {
    last = n;
    blocks = Math.ceil((clusters + table + blocks) / perBlock);
    table = Math.ceil(blocks / perTableCluster);
    n = clusters + blocks + table;
    if (n === last && extra) {
      clusters += Math.ceil(table / 2);
      extra = false;
      n = -1; // one more round
    }
  } while (n !== last);
  return blocks;
}
