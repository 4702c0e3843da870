// Qcow2ClusterMap: guest offset -> host location through the L1 table (kept
// whole in memory) and the L2 cache. lookup() fills a caller-owned
// Qcow2Extent with the longest run of clusters, within one L2 table, that
// share a type (and, for data, are contiguous on the host), as QEMU's
// qcow2_get_host_offset does. No allocation on the hot path.
import type { BlockError } from '@tsemu/block-core';
import {
  OFFSET_MASK_HI, OFFSET_MASK_LO, OFLAG_COMPRESSED_HI, OFLAG_COPIED_HI, OFLAG_ZERO_LO,
} from './constants.js';
import type { Qcow2HostFile } from './host-file.js';
import { lookupExtended } from './extended-l2.js';
import { Qcow2L2Cache, type Qcow2L2Table } from './l2-cache.js';
import { cHexAlt } from './c-format.js';

export enum ClusterType {
  Unallocated = 0,
  Normal = 1,
  ZeroPlain = 2,
  ZeroAlloc = 3,
  Compressed = 4,
}

/** One run of clusters of the same kind. Reused across lookups. */
export class Qcow2Extent {
  type: ClusterType = ClusterType.Unallocated;
  /** Host offset of the first byte asked for (Normal / ZeroAlloc). */
  host = 0;
  /** Bytes from the asked offset that the run covers. */
  bytes = 0;
  /** All clusters of the run carry COPIED (refcount 1: writable in place). */
  copied = false;
  /** Raw L2 entry halves of the first cluster (compressed descriptor). */
  entryHi = 0;
  entryLo = 0;
  /** Set by the writer: host offset just past the clusters the last piece of a request was written to. */
  hostEnd = -1;
  /** L2 table holding the run (undefined when the L1 entry is empty) and the run's first index in it. */
  table: Qcow2L2Table | undefined;
  index = 0;
}

export interface ClusterMapInit {
  file: Qcow2HostFile;
  clusterBits: number;
  l1Offset: number;
  l1Size: number;
  l2CacheTables: number;
  /** Extended L2 entries (16 bytes, subcluster bitmaps). */
  extendedL2?: boolean;
  corrupt(message: string): BlockError;
}

export class Qcow2ClusterMap {
  readonly clusterBits: number;
  readonly clusterSize: number;
  /** L2 entries per table (8-byte entries). */
  readonly l2Entries: number;
  readonly extendedL2: boolean;
  l1Offset: number;
  l1Size: number;
  /** L1 entries as u32 halves: [hi0, lo0, hi1, lo1, ...]. */
  l1: Uint32Array;
  readonly cache: Qcow2L2Cache;
  private readonly file: Qcow2HostFile;
  private readonly init: ClusterMapInit;

  constructor(init: ClusterMapInit) {
    this.init = init;
    this.file = init.file;
    this.clusterBits = init.clusterBits;
    this.clusterSize = 2 ** init.clusterBits;
    this.extendedL2 = init.extendedL2 === true;
    this.l2Entries = this.clusterSize / (this.extendedL2 ? 16 : 8);
    this.l1Offset = init.l1Offset;
    this.l1Size = init.l1Size;
    this.l1 = new Uint32Array(init.l1Size * 2);
    this.cache = new Qcow2L2Cache(init.file, this.clusterSize, init.l2CacheTables);
  }

  async load(): Promise<void> {
    if (this.l1Size === 0) return;
    const raw = new Uint8Array(this.l1Size * 8);
    await this.file.read(this.l1Offset, raw);
    const dv = new DataView(raw.buffer);
    for (let i = 0; i < this.l1Size * 2; i++) this.l1[i] = dv.getUint32(i * 4);
  }

  /** Switches to a new, larger L1 table already written at `offset` (resize). */
  replaceL1(offset: number, size: number): void {
    const l1 = new Uint32Array(size * 2);
    l1.set(this.l1.subarray(0, Math.min(this.l1.length, size * 2)));
    this.l1 = l1;
    this.l1Offset = offset;
    this.l1Size = size;
  }

  /** Host offset of the L2 table for L1 index i (0 = none). */
  l2Offset(i: number): number {
    return (this.l1[i * 2]! & OFFSET_MASK_HI) * 4294967296 + ((this.l1[i * 2 + 1]! & OFFSET_MASK_LO) >>> 0);
  }

  l1Copied(i: number): boolean {
    return (this.l1[i * 2]! & OFLAG_COPIED_HI) !== 0;
  }

  /** Host offsets of all L2 tables the active L1 names (overlap checks). */
  l2Offsets(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.l1Size; i++) {
      const off = this.l2Offset(i);
      if (off) out.push(off);
    }
    return out;
  }

  /** The L2 table for L1 index i, or undefined when unallocated. */
  async table(i: number): Promise<Qcow2L2Table | undefined> {
    const off = this.l2Offset(i);
    if (off === 0) return undefined;
    if (off % this.clusterSize !== 0) {
      throw this.init.corrupt(`L2 table offset ${cHexAlt(off)} unaligned (L1 index: ${cHexAlt(i)})`);
    }
    return this.cache.get(off);
  }

  /** Classifies the run starting at guest `offset`, at most `maxBytes` long. */
  async lookup(offset: number, maxBytes: number, ext: Qcow2Extent): Promise<void> {
    if (this.lookupCached(offset, maxBytes, ext)) return;
    const l1i = Math.floor(Math.floor(offset / this.clusterSize) / this.l2Entries);
    this.classify(offset, maxBytes, l1i < this.l1Size ? await this.table(l1i) : undefined, ext);
  }

  /**
   * lookup() without waiting: true when it could answer from memory (no L2
   * table needed, or the table cached); false when the table must be read
   * (the caller awaits lookup(), which finds the load this call started).
   * Saves the hot paths an async call per request.
   */
  lookupCached(offset: number, maxBytes: number, ext: Qcow2Extent): boolean {
    const l1i = Math.floor(Math.floor(offset / this.clusterSize) / this.l2Entries);
    if (l1i >= this.l1Size) {
      this.classify(offset, maxBytes, undefined, ext);
      return true;
    }
    const off = this.l2Offset(l1i);
    if (off === 0) {
      this.classify(offset, maxBytes, undefined, ext);
      return true;
    }
    if (off % this.clusterSize !== 0) return false; // table() reports the corruption
    const t = this.cache.get(off);
    if (t instanceof Promise) return false;
    this.classify(offset, maxBytes, t, ext);
    return true;
  }

  /** Fills `ext` from L2 table `t` (undefined: no table, all unallocated). */
  private classify(offset: number, maxBytes: number, t: Qcow2L2Table | undefined, ext: Qcow2Extent): void {
    const cs = this.clusterSize;
    const inCluster = offset % cs;
    const cluster = (offset - inCluster) / cs;
    const l1i = Math.floor(cluster / this.l2Entries);
    const l2i = cluster - l1i * this.l2Entries;
    // Clusters left in this L2 table, capped by the request.
    const maxClusters = Math.min(this.l2Entries - l2i, Math.ceil((inCluster + maxBytes) / cs));
    ext.index = l2i;
    ext.table = t;
    if (t === undefined) {
      setUnallocated(ext, maxClusters, inCluster, maxBytes, cs);
      return;
    }
    if (this.extendedL2) {
      if (!lookupExtended(t, l2i, this.l2Entries, inCluster, maxBytes, cs, ext)) {
        throw this.init.corrupt(`Invalid cluster entry found  (L2 offset: ${cHexAlt(t.offset)}, L2 index: ${cHexAlt(l2i)})`);
      }
      return;
    }
    const dv = t.dv;
    const hi = dv.getUint32(l2i * 8);
    const lo = dv.getUint32(l2i * 8 + 4);
    ext.entryHi = hi;
    ext.entryLo = lo;
    ext.copied = (hi & OFLAG_COPIED_HI) !== 0;
    let n = 1;
    if ((hi & OFLAG_COMPRESSED_HI) !== 0) {
      ext.type = ClusterType.Compressed;
      ext.host = 0;
      ext.copied = false;
    } else {
      const host = (hi & OFFSET_MASK_HI) * 4294967296 + ((lo & OFFSET_MASK_LO) >>> 0);
      if ((lo & OFLAG_ZERO_LO) !== 0) {
        ext.type = host ? ClusterType.ZeroAlloc : ClusterType.ZeroPlain;
        ext.host = host ? host + inCluster : 0;
        // Zero runs: any mix of plain/alloc reads the same; keep kind and COPIED uniform.
        for (; n < maxClusters; n++) {
          const h2 = dv.getUint32((l2i + n) * 8);
          const l2 = dv.getUint32((l2i + n) * 8 + 4);
          if ((h2 & OFLAG_COMPRESSED_HI) !== 0 || (l2 & OFLAG_ZERO_LO) === 0) break;
          const o2 = (h2 & OFFSET_MASK_HI) * 4294967296 + ((l2 & OFFSET_MASK_LO) >>> 0);
          if ((o2 !== 0) !== (host !== 0) || ((h2 & OFLAG_COPIED_HI) !== 0) !== ext.copied) break;
          if (host !== 0 && o2 !== host + n * cs) break;
        }
      } else if (host !== 0) {
        if (host % cs !== 0) {
          throw this.init.corrupt(
            `Cluster allocation offset ${cHexAlt(host)} unaligned (L2 offset: ${cHexAlt(t.offset)}, L2 index: ${cHexAlt(l2i)})`,
          );
        }
        ext.type = ClusterType.Normal;
        ext.host = host + inCluster;
        for (; n < maxClusters; n++) {
          const h2 = dv.getUint32((l2i + n) * 8);
          const l2 = dv.getUint32((l2i + n) * 8 + 4);
          if ((h2 & OFLAG_COMPRESSED_HI) !== 0 || (l2 & OFLAG_ZERO_LO) !== 0) break;
          if (((h2 & OFLAG_COPIED_HI) !== 0) !== ext.copied) break;
          if ((h2 & OFFSET_MASK_HI) * 4294967296 + ((l2 & OFFSET_MASK_LO) >>> 0) !== host + n * cs) break;
        }
      } else {
        ext.type = ClusterType.Unallocated;
        ext.host = 0;
        for (; n < maxClusters; n++) {
          if (dv.getUint32((l2i + n) * 8) !== 0 || dv.getUint32((l2i + n) * 8 + 4) !== 0) break;
        }
      }
    }
    ext.bytes = Math.min(n * cs - inCluster, maxBytes);
  }

  /** Writes L1 entry i (8 bytes) and updates memory. */
  async setL1(i: number, l2Offset: number, copied: boolean): Promise<void> {
    const hi = Math.floor(l2Offset / 4294967296) | (copied ? OFLAG_COPIED_HI : 0);
    const lo = l2Offset >>> 0;
    const e = new Uint8Array(8);
    const dv = new DataView(e.buffer);
    dv.setUint32(0, hi >>> 0);
    dv.setUint32(4, lo);
    await this.file.write(this.l1Offset + i * 8, e);
    this.l1[i * 2] = hi >>> 0;
    this.l1[i * 2 + 1] = lo;
  }

  /**
   * The object the cache holds for `t`'s offset now (loading it if needed).
   * A caller's table may have been evicted and reloaded while it awaited;
   * changes must land in the live copy, or later lookups would not see them.
   */
  async live(t: Qcow2L2Table): Promise<Qcow2L2Table> {
    const cur = await this.cache.get(t.offset);
    return cur;
  }

  /** Sets one L2 entry to raw halves (compressed descriptors keep their low bits); the cache writes it back. */
  async setL2Raw(held: Qcow2L2Table, index: number, hi: number, lo: number): Promise<void> {
    const t = await this.live(held);
    if (t !== held) {
      held.dv.setUint32(index * 8, hi >>> 0);
      held.dv.setUint32(index * 8 + 4, lo >>> 0);
    }
    t.dv.setUint32(index * 8, hi >>> 0);
    t.dv.setUint32(index * 8 + 4, lo >>> 0);
    await this.cache.changed(t, index, index + 1);
  }

  /**
   * Sets `count` consecutive L2 entries from `index` in `t` (the live cached
   * copy; Qcow2L2Cache writes it back later, or at once in write-through mode). hi/lo describe the first
   * entry; for data runs each further entry's offset advances by one cluster.
   * Synchronous (undefined) when the table is cached and written back lazily,
   * the hot case; a promise only when it must reload the table or write at
   * once. Kept small and apart from the slow path so that the optimising
   * compiler sees a tiny function (it ran 10 ms per compile as an async one).
   */
  setL2(held: Qcow2L2Table, index: number, count: number, hi: number, lo: number, advance: boolean): Promise<void> | undefined {
    const t = this.cache.get(held.offset);
    if (t instanceof Promise || this.cache.writeThrough) return this.setL2Slow(held, index, count, hi, lo, advance);
    fillL2(t.dv, index, count, hi, lo, advance, this.clusterSize);
    if (t !== held) held.data.set(t.data.subarray(index * 8, (index + count) * 8), index * 8);
    this.cache.markChanged(t);
    return undefined;
  }

  private async setL2Slow(held: Qcow2L2Table, index: number, count: number, hi: number, lo: number, advance: boolean): Promise<void> {
    const t = await this.live(held);
    fillL2(t.dv, index, count, hi, lo, advance, this.clusterSize);
    if (t !== held) held.data.set(t.data.subarray(index * 8, (index + count) * 8), index * 8);
    await this.cache.changed(t, index, index + count);
  }
}

/** Writes `count` L2 entries from `index`: flags of hi/lo on each, the offset advancing a cluster per entry for data runs. */
function fillL2(dv: DataView, index: number, count: number, hi: number, lo: number, advance: boolean, clusterSize: number): void {
  let host = (hi & OFFSET_MASK_HI) * 4294967296 + ((lo & OFFSET_MASK_LO) >>> 0);
  const flagsHi = hi & ~OFFSET_MASK_HI;
  const flagsLo = lo & ~OFFSET_MASK_LO;
  const step = advance && host !== 0 ? clusterSize : 0;
  for (let k = 0; k < count; k++) {
    dv.setUint32((index + k) * 8, (flagsHi | Math.floor(host / 4294967296)) >>> 0);
    dv.setUint32((index + k) * 8 + 4, ((host >>> 0) | flagsLo) >>> 0);
    host += step;
  }
}

/**
 * A free list of extents, so the per-request lookups allocate nothing once
 * warm. Each request takes its own (requests run concurrently) and gives it back.
 */
export class Qcow2ExtentPool {
  private readonly free: Qcow2Extent[] = [];

  take(): Qcow2Extent {
    return this.free.pop() ?? new Qcow2Extent();
  }

  give(ext: Qcow2Extent): void {
    ext.table = undefined; // do not keep an evicted table alive
    if (this.free.length < 256) this.free.push(ext);
  }
}

function setUnallocated(ext: Qcow2Extent, clusters: number, inCluster: number, maxBytes: number, cs: number): void {
  ext.type = ClusterType.Unallocated;
  ext.host = 0;
  ext.copied = false;
  ext.entryHi = 0;
  ext.entryLo = 0;
  ext.bytes = Math.min(clusters * cs - inCluster, maxBytes);
}
