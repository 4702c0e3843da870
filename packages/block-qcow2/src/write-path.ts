// Qcow2Writer: guest writes, write-zeroes and discard.
//
// In-place writes (a data cluster whose L2 entry carries COPIED) go straight
// to the file without the metadata lock. Everything that changes metadata
// runs under Qcow2Image.lock, re-checking the mapping once it holds it: the
// second of two writers into one new cluster (iotests 046) finds the cluster
// allocated by the first and writes in place, so neither copy-on-write
// overwrites the other's data.
//
// Ordering of an allocating write (a crash at any point leaves at most leaked
// clusters; Qcow2MetadataCache orders the lazy write-back):
//   1. refcounts of the new clusters, in the refcount cache (dirty);
//   2. guest data, merged with copy-on-write of the old cluster content,
//      written to the file before the L2 entries change in memory;
//   3. a new L2 table, if one is needed: refcounts written and flushed, the
//      table written and flushed, then its L1 entry (written at once);
//   4. the L2 entries pointing at the new data, in the L2 cache (dirty);
//      written back on flush/close/pressure, after the refcounts (and a flush);
//   5. refcount decrements of what the entries used to point at (deferred
//      until no request is in flight, applied after the L2 write-back, see
//      Qcow2Image.releaseFrees).
import { BlockError, type BlockStatus } from '@tsemu/block-core';
import type { Qcow2FileNode } from './host-file.js';
import type { Qcow2Allocation } from './allocations.js';
import { ClusterType, Qcow2Extent, Qcow2ExtentPool } from './cluster-map.js';
import { decodeCompressed, type CompressedLocation } from './compressed.js';
import { OFLAG_COPIED_HI, OFLAG_ZERO_LO } from './constants.js';
import type { Qcow2Image } from './image.js';
import { copyFromIovRange, writeFromIov } from './iov-util.js';
import { Qcow2L2Table, type Qcow2L2Cache } from './l2-cache.js';
import type { Qcow2Reader } from './read-path.js';

/** planRun's answers. */
const RUN_PLANNED = 0;
const RUN_IN_PLACE = 1;
const RUN_NEEDS_TABLE = 2;

const ZERO_MODE = 0;
const ZERO_UNMAP_MODE = 1;
const DISCARD_MODE = 2;
/** Entries become 0 whatever the version or backing file (clusters past a shrunken end). */
const FULL_DISCARD_MODE = 3;

/** A copy of iov[pos, pos+n) in one buffer. */
function gatherIov(iov: readonly Uint8Array[], pos: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  copyFromIovRange(iov, pos, n, out, 0);
  return out;
}

export class Qcow2Writer {
  private readonly loc: CompressedLocation = { host: 0, bytes: 0 };
  private readonly extents = new Qcow2ExtentPool();
  /** Scratch extent for looking ahead / behind an allocation (used only under the lock). */
  private readonly peek = new Qcow2Extent();

  constructor(private readonly img: Qcow2Image, private readonly reader: Qcow2Reader) {}

  async write(offset: number, length: number, iov: readonly Uint8Array[]): Promise<void> {
    const img = this.img;
    const ext = this.extents.take();
    try {
      let pos = 0;
      // Where the previous piece ended on the host: an allocation tries to continue there first.
      let hostEnd = -1;
      const cs = img.clusterSize;
      // An in-place run followed by more of the request waits for the next
      // run's allocation, as QEMU's qcow2_alloc_host_offset plans both before
      // writing: an allocation that fails there leaves the in-place part unwritten.
      let pending: PendingWrite | undefined;
      while (pos < length) {
        if (!img.map.lookupCached(offset + pos, length - pos, ext)) await img.map.lookup(offset + pos, length - pos, ext);
        if (ext.type === ClusterType.Normal && ext.copied) {
          img.checkOverlap(ext.host, ext.bytes);
          // A second in-place run: the first goes out now (QEMU writes it in its own iteration).
          if (pending !== undefined) await pending.flush();
          if (pos + ext.bytes === length) await this.writeInPlace(ext.host, offset + pos, iov, pos, ext.bytes);
          else pending = new PendingWrite(this, ext.host, offset + pos, iov, pos, ext.bytes);
          pos += ext.bytes;
          hostEnd = Math.ceil((ext.host + ext.bytes) / cs) * cs;
        } else {
          ext.hostEnd = hostEnd;
          pos += await this.allocatingWrite(offset + pos, length - pos, iov, pos, ext, pending);
          if (pending?.done) pending = undefined;
          hostEnd = ext.hostEnd;
        }
      }
      if (pending !== undefined) await pending.flush();
    } finally {
      this.extents.give(ext);
    }
  }

  /**
   * Allocates the run at `cur` and writes it; 0 if it turned writable in
   * place meanwhile. Refcounts are taken under the lock, the data is written
   * without it (other allocations proceed), the L2 entries under it again.
   * As QEMU's qcow2_alloc_host_offset, the run goes right after the
   * request's previous piece (`ext.hostEnd`) when clusters are free there
   * (as many as are), else where the free-cluster search finds room; a zero
   * cluster that still owns its host cluster (refcount 1) is written in place.
   * Sets `ext.hostEnd` past what it wrote.
   *
   * Hot path of every allocating write (a convert makes one per 2 MiB): the
   * metadata work runs in small synchronous helpers when the tables and
   * refcount blocks it needs are cached, so the usual call awaits only its
   * data write; every await below is skipped unless something must be read,
   * waited for or written first.
   */
  private async allocatingWrite(
    cur: number, rem: number, iov: readonly Uint8Array[], pos: number, ext: Qcow2Extent, pending: PendingWrite | undefined,
  ): Promise<number> {
    const img = this.img;
    const cs = img.clusterSize;
    const inCluster = cur % cs;
    let host: number;
    let fileEnd: number;
    let count: number;
    let alloc: Qcow2Allocation;
    let keep = false;
    let lastType: ClusterType;
    const wantHost = ext.hostEnd;
    if (!img.lock.tryLock()) await img.lock.lock();
    try {
      for (;;) {
        const i = this.l1Index(cur);
        if (!this.tableWritable(i)) await this.writableTable(i);
        const r = this.planRun(cur, rem, ext);
        if (r === RUN_IN_PLACE) return 0;
        if (r === RUN_NEEDS_TABLE) {
          await img.map.lookup(cur, rem, ext); // loads the table; look again
          continue;
        }
        const a = img.allocations.find((cur - inCluster) / cs, this.runCount);
        if (a === undefined) break;
        // An in-flight allocation covers some of these clusters: wait for it without the lock, then look again.
        img.lock.unlock();
        try {
          await a.wait();
        } finally {
          await img.lock.lock();
        }
      }
      count = this.runCount;
      lastType = this.runLastType;
      fileEnd = img.file.size;
      if (ext.type === ClusterType.ZeroAlloc && ext.copied) {
        keep = true;
        host = ext.host - inCluster;
      } else {
        const at = wantHost >= 0 ? await img.refcounts.allocateAt(wantHost / cs, count) : 0;
        if (at > 0) {
          host = wantHost;
          if (at < count) {
            count = at;
            ext.bytes = Math.min(ext.bytes, at * cs - inCluster);
          }
        } else {
          // Nothing free right after the in-place part: QEMU writes that part before allocating elsewhere.
          if (pending !== undefined) await pending.flush();
          host = img.refcounts.allocateCached(count);
          if (host < 0) host = await img.refcounts.allocate(count);
        }
      }
      alloc = img.allocations.add((cur - inCluster) / cs, count);
      ext.hostEnd = host + count * cs;
    } finally {
      img.lock.unlock();
    }
    try {
      if (pending !== undefined) await pending.flush();
      const n = ext.bytes;
      const total = count * cs;
      const edgesZero = (inCluster === 0 || this.readsZeroType(ext.type)) && (inCluster + n === total || this.readsZeroType(lastType));
      await this.writeNewClusters(cur, n, iov, pos, edgesZero, host, fileEnd, count);
      if (!img.lock.tryLock()) await img.lock.lock();
      try {
        // Lazy refcounts: the dirty bit is stable before an entry can outrun its refcounts.
        if (img.needsDirtyMark) await img.markDirtyIfLazy();
        // What the entries pointed at, run by run (queued frees: applied after the L2 write-back).
        if (!keep) {
          const first = cur - inCluster;
          for (let k = this.freeOldRun(first, count, 0); k < count; k = this.freeOldRun(first, count, k)) {
            await img.map.lookup(first + k * cs, (count - k) * cs, this.peek); // loads the table; look again
          }
        }
        // The table may have been reloaded meanwhile; setL2 writes the live copy.
        const hostHi = Math.floor(host / 4294967296);
        const linked = img.map.setL2(ext.table!, ext.index, count, (OFLAG_COPIED_HI | hostHi) >>> 0, host >>> 0, true);
        if (linked !== undefined) await linked;
        img.metadata.newDataLinked();
        if (img.metadata.overCapacity) await img.metadata.writeBack();
      } finally {
        img.lock.unlock();
      }
      return n;
    } finally {
      img.allocations.remove(alloc);
    }
  }

  /** Guest data written in place at `host` (enciphered first on an encrypted image). */
  writeInPlace(host: number, guest: number, iov: readonly Uint8Array[], pos: number, bytes: number): Promise<void> {
    const img = this.img;
    if (img.crypto === undefined) return writeFromIov(img.file, host, iov, pos, bytes);
    return this.writeEncrypted(host, guest, gatherIov(iov, pos, bytes));
  }

  /** Clusters and kind of the last cluster of the run planRun found (valid under the lock until the next call). */
  private runCount = 0;
  private runLastType = ClusterType.Unallocated;

  /**
   * Caller holds the lock. Fills `ext` with the run an allocating write at
   * `cur` takes, from cached L2 tables only (RUN_NEEDS_TABLE: one must be
   * read first). As QEMU, one run takes every following cluster of the table
   * that needs a new host cluster, whatever it held (unallocated, zero,
   * shared, compressed).
   */
  private planRun(cur: number, rem: number, ext: Qcow2Extent): number {
    const map = this.img.map;
    const cs = this.img.clusterSize;
    if (!map.lookupCached(cur, rem, ext)) return RUN_NEEDS_TABLE;
    if (ext.type === ClusterType.Normal && ext.copied) return RUN_IN_PLACE;
    let lastType = ext.type;
    if (!(ext.type === ClusterType.ZeroAlloc && ext.copied)) {
      const peek = this.peek;
      let covered = ext.bytes;
      while (covered < rem && ((cur + covered) / cs) % map.l2Entries !== 0) {
        if (!map.lookupCached(cur + covered, rem - covered, peek)) return RUN_NEEDS_TABLE;
        if ((peek.type === ClusterType.Normal || peek.type === ClusterType.ZeroAlloc) && peek.copied) break;
        covered += peek.bytes;
        lastType = peek.type;
      }
      ext.bytes = covered;
    }
    this.runLastType = lastType;
    this.runCount = Math.ceil(((cur % cs) + ext.bytes) / cs);
    return RUN_PLANNED;
  }

  /**
   * Caller holds the lock. Queues the frees of what the entries of clusters
   * [k, count) of the run at guest `first` pointed at, as far as cached
   * tables answer; returns the cluster it stopped at (count: all done).
   */
  private freeOldRun(first: number, count: number, k: number): number {
    const map = this.img.map;
    const cs = this.img.clusterSize;
    const peek = this.peek;
    while (k < count) {
      if (!map.lookupCached(first + k * cs, (count - k) * cs, peek)) return k;
      const c = Math.ceil(peek.bytes / cs);
      this.freeOld(peek, c);
      k += c;
    }
    return k;
  }

  /** Guest data (merged with the copy-on-write of the old content) into freshly allocated clusters. */
  private readsZeroType(type: ClusterType): boolean {
    return type === ClusterType.ZeroPlain || type === ClusterType.ZeroAlloc || (type === ClusterType.Unallocated && this.img.backing === undefined);
  }

  /** `readsZero`: the partial first/last clusters' old content is zeroes (no copy-on-write needed). */
  private async writeNewClusters(
    cur: number, n: number, iov: readonly Uint8Array[], pos: number, readsZero: boolean, host: number, fileEnd: number, count: number,
  ): Promise<void> {
    const img = this.img;
    const cs = img.clusterSize;
    const inCluster = cur % cs;
    const total = count * cs;
    const end = inCluster + n;
    const clusterStart = cur - inCluster;
    // New clusters only overlap metadata when the refcounts are wrong: QEMU's pre-write overlap check.
    img.checkOverlap(host, total);
    if (img.crypto !== undefined) {
      // Every byte of an encrypted cluster is ciphertext for its host offset:
      // the copy-on-write edges (zeroes included) are enciphered with the data.
      const buf = new Uint8Array(total);
      await this.copyOnWriteEdges(buf, clusterStart, inCluster, end, total, count);
      copyFromIovRange(iov, pos, n, buf, inCluster);
      await this.writeEncrypted(host, clusterStart, buf);
      return;
    }
    // Clusters past the end of the file read as zeroes already: when the old
    // content is zeroes too, only the guest's bytes need writing (no COW).
    if (inCluster === 0 && end === total) {
      await writeFromIov(img.file, host + inCluster, iov, pos, n);
      return;
    }
    if (readsZero) {
      // The old content is zeroes: zero the whole run without writing data
      // (fallocate), as QEMU does, then write only the guest's bytes. The
      // file then ends, and is allocated, where qemu-img's would be. Past the
      // end of the file the clusters read as zeroes even without it.
      if ((await img.file.zeroWithoutWriting(host, total)) || host >= fileEnd) {
        await writeFromIov(img.file, host + inCluster, iov, pos, n);
        return;
      }
    }
    // Copy-on-write: what the guest sees now in the partial first/last cluster.
    const buf = new Uint8Array(total);
    await this.copyOnWriteEdges(buf, clusterStart, inCluster, end, total, count);
    copyFromIovRange(iov, pos, n, buf, inCluster);
    await img.file.write(host, buf);
  }

  /** What the guest sees now in a run's partial first and last clusters, into buf (the run's `total` bytes). */
  private async copyOnWriteEdges(buf: Uint8Array, clusterStart: number, inCluster: number, end: number, total: number, count: number): Promise<void> {
    const cs = this.img.clusterSize;
    if (inCluster > 0) await this.reader.read(clusterStart, cs, [buf], 0);
    if (end < total && (count > 1 || inCluster === 0)) {
      await this.reader.read(clusterStart + total - cs, cs, [buf], total - cs);
    }
  }

  /** Enciphers `data` (whole sectors) for host offset `host` (guest offset `guest`: the old AES scheme's IVs) and writes it. */
  private async writeEncrypted(host: number, guest: number, data: Uint8Array): Promise<void> {
    const crypto = this.img.crypto!;
    crypto.cipher.encrypt(data, (crypto.physical ? host : guest) / 512);
    await this.img.file.write(host, data);
  }

  /**
   * Caller holds the lock. If an in-flight allocation covers any of the guest
   * clusters, drops the lock, waits for it, takes the lock again and returns
   * true (the caller must look again); false if there is none.
   */
  async waitForAllocations(first: number, count: number): Promise<boolean> {
    const img = this.img;
    const a = img.allocations.find(first, count);
    if (a === undefined) return false;
    img.lock.unlock();
    try {
      await a.wait();
    } finally {
      await img.lock.lock();
    }
    return true;
  }

  private l1Index(offset: number): number {
    const map = this.img.map;
    const i = Math.floor(offset / (map.clusterSize * map.l2Entries));
    if (i >= map.l1Size) throw new BlockError('EIO');
    return i;
  }

  /** L1 entry `i` names an L2 table with refcount 1 (writableTable has nothing to do). */
  private tableWritable(i: number): boolean {
    const map = this.img.map;
    return map.l2Offset(i) !== 0 && map.l1Copied(i);
  }

  /** Caller holds the lock. Makes the L2 table covering guest `offset` writable. */
  ensureWritableTable(offset: number): Promise<void> {
    return this.writableTable(this.l1Index(offset));
  }

  /** Caller holds the lock. Ensures L1 entry `i` names an L2 table with refcount 1. */
  private async writableTable(i: number): Promise<void> {
    const img = this.img;
    const map = img.map;
    const old = map.l2Offset(i);
    if (old !== 0 && map.l1Copied(i)) return;
    await img.markDirtyIfLazy();
    const cs = img.clusterSize;
    const data = new Uint8Array(cs);
    // A shared table (snapshot) is copied; its data clusters keep their counts.
    if (old !== 0) data.set((await map.table(i))!.data);
    const off = await img.refcounts.allocate(1);
    // Only broken refcounts give cluster 0 (the header) away.
    if (off === 0) throw img.corrupt('Preventing invalid allocation of L2 table at offset 0');
    img.metadataClusters.add(off / cs);
    // L1 may name the table only once its refcount (unless the image is dirty) and its content are stable.
    await img.metadata.writeBackRefcountsAndFlush();
    await img.file.write(off, data);
    await img.metadata.flushFile();
    (map.cache as Qcow2L2Cache).insert(new Qcow2L2Table(off, data));
    await map.setL1(i, off, true);
    if (old !== 0) {
      map.cache.drop(old);
      img.deferFree(old, 1, false);
    }
  }

  /** Queues the refcount decrements for what a run's entries pointed at. */
  private freeOld(ext: Qcow2Extent, count: number, passDiscard = false): void {
    const img = this.img;
    const cs = img.clusterSize;
    switch (ext.type) {
      case ClusterType.Normal:
      case ClusterType.ZeroAlloc:
        img.deferFree(ext.host - (ext.host % cs), count, passDiscard, true);
        break;
      case ClusterType.Compressed:
        decodeCompressed(ext.entryHi, ext.entryLo, img.clusterBits, this.loc);
        img.deferFreeBytes(this.loc.host, this.loc.bytes);
        this.reader.invalidate();
        break;
      default:
    }
  }

  /**
   * Write-zeroes, split as QEMU's block layer splits it: whole clusters
   * become zero clusters (v3) or are discarded (v2 without backing file); a partial cluster at either edge becomes a zero
   * cluster too when the rest of it reads as zeroes and it holds no data,
   * else zeroes are written into it.
   */
  async writeZeroes(offset: number, length: number, mayUnmap: boolean): Promise<void> {
    const img = this.img;
    const cs = img.clusterSize;
    let mode = mayUnmap ? ZERO_UNMAP_MODE : ZERO_MODE;
    if (!img.hasZeroClusters) {
      // v2 has no zero flag; without a backing file a discard reads as zeroes (QEMU does the same).
      if (img.backing !== undefined || img.header.backingFile !== undefined) throw new BlockError('ENOTSUP');
      mode = DISCARD_MODE;
    }
    const [start, end] = this.wholeClusters(offset, length);
    if (start >= end) {
      // No whole cluster: one or two partial ones.
      const split = Math.min(offset + length, Math.floor(offset / cs) * cs + cs);
      await this.zeroPartial(offset, split - offset, mode);
      if (offset + length > split) await this.zeroPartial(split, offset + length - split, mode);
      return;
    }
    if (start > offset) await this.zeroPartial(offset, start - offset, mode);
    await this.updateRange(start, end, mode);
    if (offset + length > end) await this.zeroPartial(end, offset + length - end, mode);
  }

  /** Write-zeroes of part of one cluster (QEMU's head/tail case of qcow2_co_pwrite_zeroes). */
  private async zeroPartial(offset: number, length: number, mode: number): Promise<void> {
    const cs = this.img.clusterSize;
    const first = offset - (offset % cs);
    const end = offset + length;
    // Nothing after the request counts when it ends at the image end.
    const restEnd = end >= this.img.header.size ? end : first + cs;
    if ((await this.readsZero(first, offset - first)) && (await this.readsZero(end, restEnd - end)) &&
        (await this.updateRange(first, first + cs, mode, true))) return;
    await this.writeZeroBytes(offset, length);
  }

  /**
   * [offset, offset + length) reads as zeroes without looking at data (block
   * status; unallocated ranges ask the backing node, as QEMU's is_zero does).
   */
  private async readsZero(offset: number, length: number): Promise<boolean> {
    let pos = offset;
    while (pos < offset + length) {
      const st = await this.reader.blockStatus(pos, offset + length - pos);
      if (st.length === 0) return false;
      if (!st.zero && !(st.allocated === false && (await this.backingReadsZero(pos, st.length)))) return false;
      pos += st.length;
    }
    return true;
  }

  /** The backing node reads [offset, offset + length) as zeroes (past its end, or by its block status). */
  private async backingReadsZero(offset: number, length: number): Promise<boolean> {
    const node = this.img.backing as (Qcow2FileNode & { blockStatus?(o: number, l: number): Promise<BlockStatus> }) | undefined;
    if (node === undefined) return false;
    const size = await node.getLength();
    let pos = offset;
    while (pos < offset + length && pos < size) {
      if (node.blockStatus === undefined) return false;
      const st = await node.blockStatus(pos, Math.min(offset + length, size) - pos);
      if (!st.zero || st.length === 0) return false;
      pos += st.length;
    }
    return true;
  }

  /** Whole clusters only; a request ending at the image end covers its last partial cluster. */
  async discard(offset: number, length: number): Promise<void> {
    const [start, end] = this.wholeClusters(offset, length);
    if (start < end) await this.updateRange(start, end, DISCARD_MODE);
  }

  /** Drops every cluster of whole-cluster range [start, end) (shrinking). */
  async fullDiscard(start: number, end: number): Promise<void> {
    if (start < end) await this.updateRange(start, end, FULL_DISCARD_MODE);
  }

  private wholeClusters(offset: number, length: number): [number, number] {
    const cs = this.img.clusterSize;
    const start = Math.ceil(offset / cs) * cs;
    let end = Math.floor((offset + length) / cs) * cs;
    if (offset + length >= this.img.header.size) end = Math.ceil((offset + length) / cs) * cs;
    return [start, Math.max(start, end)];
  }

  private async writeZeroBytes(offset: number, length: number): Promise<void> {
    const zeroes = new Uint8Array(length);
    await this.write(offset, length, [zeroes]);
  }

  /**
   * Rewrites the L2 entries of whole clusters [start, end) for zero / discard.
   * As QEMU's discard_in_l2_slice / zero_in_l2_slice, every L2 table the
   * range touches is made writable first (allocated if missing, copied if
   * shared with a snapshot), even when no entry changes; a shrink
   * (FULL_DISCARD_MODE) copies shared tables too but leaves missing ones alone. `onlyWithoutData`: do
   * nothing and return false if the first cluster holds data (partial
   * write-zeroes).
   */
  private async updateRange(start: number, end: number, mode: number, onlyWithoutData = false): Promise<boolean> {
    const img = this.img;
    const cs = img.clusterSize;
    const ext = new Qcow2Extent();
    let cur = start;
    while (cur < end) {
      if (mode !== FULL_DISCARD_MODE) {
        // A new L2 table may take what this request freed so far (QEMU frees at once).
        const l1i = this.l1Index(cur);
        if (!(img.map.l2Offset(l1i) !== 0 && img.map.l1Copied(l1i))) await img.releaseFreesIfAlone();
      }
      await img.lock.lock();
      try {
        const i = this.l1Index(cur);
        await img.map.lookup(cur, end - cur, ext);
        if (await this.waitForAllocations(cur / cs, Math.ceil(ext.bytes / cs))) continue;
        if (onlyWithoutData && (ext.type === ClusterType.Normal || ext.type === ClusterType.Compressed)) return false;
        // A shrink copies a table shared with a snapshot even when no entry changes, as QEMU's does.
        const present = img.map.l2Offset(i) !== 0;
        if ((mode !== FULL_DISCARD_MODE || present) && !(present && img.map.l1Copied(i))) {
          await this.writableTable(i);
          await img.map.lookup(cur, end - cur, ext);
        }
        const count = Math.ceil(ext.bytes / cs);
        const allocated = ext.type === ClusterType.Normal || ext.type === ClusterType.ZeroAlloc || ext.type === ClusterType.Compressed;
        let hi = 0;
        let lo = 0;
        let unref = false;
        let skip = false;
        if (mode === FULL_DISCARD_MODE) {
          unref = allocated;
          skip = ext.type === ClusterType.Unallocated;
        } else if (mode === DISCARD_MODE) {
          if (img.backing !== undefined || img.header.backingFile !== undefined || allocated) {
            lo = img.hasZeroClusters ? OFLAG_ZERO_LO : 0;
            unref = allocated;
            skip = ext.type === ClusterType.Unallocated && lo === 0;
            skip ||= ext.type === ClusterType.ZeroPlain;
          } else {
            skip = true;
          }
        } else {
          unref = ext.type === ClusterType.Compressed || (mode === ZERO_UNMAP_MODE && allocated);
          if (!unref) {
            if (ext.type === ClusterType.ZeroPlain || ext.type === ClusterType.ZeroAlloc) skip = true;
            else if (ext.type === ClusterType.Normal) {
              const host = ext.host - (ext.host % cs);
              hi = (ext.copied ? OFLAG_COPIED_HI : 0) | Math.floor(host / 4294967296);
              lo = host >>> 0;
            }
          }
          lo |= OFLAG_ZERO_LO;
        }
        if (!skip) {
          if (!(img.map.l2Offset(i) !== 0 && img.map.l1Copied(i))) {
            await this.writableTable(i); // a shrink's shared table
            await img.map.lookup(cur, end - cur, ext);
          }
          await img.map.setL2(ext.table!, ext.index, Math.ceil(ext.bytes / cs), hi >>> 0, lo >>> 0, !unref);
          // QEMU's discard types: a shrink's frees always reach the file, a request's (discard, zero with unmap) when passed.
          if (unref) this.freeOld(ext, count, mode === FULL_DISCARD_MODE || (mode !== ZERO_MODE && img.passDiscard.request));
          await img.writeBackIfOverCapacity();
        }
        cur += count * cs;
      } finally {
        img.lock.unlock();
      }
    }
    return true;
  }
}

/** An in-place part of a request held back until the next run's allocation is settled (Qcow2Writer.write). */
class PendingWrite {
  done = false;

  constructor(
    private readonly writer: Qcow2Writer, private readonly host: number, private readonly guest: number,
    private readonly iov: readonly Uint8Array[], private readonly pos: number, private readonly bytes: number,
  ) {}

  /** Writes it once; later calls do nothing. */
  async flush(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.writer.writeInPlace(this.host, this.guest, this.iov, this.pos, this.bytes);
  }
}
