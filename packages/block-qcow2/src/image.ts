// Qcow2Image: one open qcow2 image's shared state: header, host file, backing
// node, cluster map, refcounts, the metadata lock, corruption signalling,
// metadata overlap checks, deferred cluster frees and the write-back of the
// metadata caches (Qcow2MetadataCache) on flush, close and cache pressure.
import { BlockError } from '@tsemu/block-core';
import { CoMutex } from '@tsemu/coroutine';
import { Qcow2Allocations } from './allocations.js';
import { Qcow2Bitmaps } from './bitmaps.js';
import { INCOMPAT_CORRUPT, INCOMPAT_DIRTY } from './constants.js';
import type { Qcow2ClusterMap } from './cluster-map.js';
import type { Qcow2Crypto } from './encryption.js';
import type { Qcow2Header } from './header.js';
import type { Qcow2FileNode, Qcow2HostFile } from './host-file.js';
import { Qcow2MetadataCache } from './metadata-cache.js';
import type { Qcow2RefcountTable } from './refcount-table.js';

/**
 * QEMU's qcow2 discard types that pass a freed cluster's discard to the file:
 * `request` (guest discards and write-zeroes with unmap: pass-discard-request,
 * default the node's discard=unmap), `snapshot` (snapshot delete and table
 * rewrites: pass-discard-snapshot, default on), `other` (pass-discard-other,
 * default off). ALWAYS-type frees (shrink, bitmaps, check repairs) always pass.
 */
export interface Qcow2DiscardPassthrough {
  request: boolean;
  snapshot: boolean;
  other: boolean;
}

/** A request-time corruption: errno EIO (what qemu-io prints), QEMU's line in `detail`. */
export class Qcow2CorruptionError extends BlockError {
  constructor(readonly detail: string) {
    super('EIO');
  }
}

/** pendingFrees flags: pass the discard to the file; free cluster by cluster if the run fails. */
const FREE_DISCARD = 1;
const FREE_EACH = 2;

let reportCorruption: (line: string) => void = (line) => process.stderr.write(`${line}\n`);

/** Where corruption lines (and the free path's failure line) go (QEMU prints them to stderr); stderr by default. */
export function setCorruptionReporter(fn: (line: string) => void): void {
  reportCorruption = fn;
}

export class Qcow2Image {
  /** Serialises every metadata change (allocation, L2/L1/refcount updates). Reads never take it. */
  readonly lock = new CoMutex();
  /** Allocations whose data is being written outside the lock. */
  readonly allocations = new Qcow2Allocations();
  refcounts!: Qcow2RefcountTable;
  map!: Qcow2ClusterMap;
  /** Write-back ordering of refcount blocks and L2 tables; set up by openQcow2Image / createQcow2. */
  private metadataCache: Qcow2MetadataCache | undefined;
  /** Nesting depth of writeThrough sections. */
  private writeThroughDepth = 0;
  readonly clusterSize: number;
  readonly clusterBits: number;
  /** Cluster indexes of L2 tables and refcount blocks: guest data must never land there. */
  readonly metadataClusters = new Set<number>();
  private corruptReported = false;
  private markCorruptDone: Promise<void> = Promise.resolve();
  /** Data requests in flight; freed clusters wait until none is, so no stale request can touch a reused cluster. */
  private inflight = 0;
  /** [cluster, count, passDiscard] triples waiting to be released. */
  private pendingFrees: number[] = [];
  /**
   * lazy_refcounts in effect (the header's compat bit or the `lazy-refcounts`
   * open option): once the dirty bit is set, refcount blocks are written only
   * on close or cache pressure, and L2 tables no longer wait for them.
   */
  lazyRefcounts = false;
  /** Which kinds of freed clusters get discarded in the file (see Qcow2DiscardPassthrough); open sets it. */
  passDiscard: Qcow2DiscardPassthrough = { request: false, snapshot: true, other: false };
  /** An encrypted image's "encrypt" info (LUKS header or `{ format: 'aes' }`). */
  encryptInfo: Record<string, unknown> | undefined;
  /** The data clusters' cipher, when an encrypted image was opened with its key. */
  crypto: Qcow2Crypto | undefined;
  /** Persistent dirty bitmaps (loaded by openQcow2Image; stored at close). */
  readonly bitmaps = new Qcow2Bitmaps(this);

  constructor(
    readonly header: Qcow2Header,
    readonly file: Qcow2HostFile,
    readonly backing: Qcow2FileNode | undefined,
    readonly readOnly: boolean,
  ) {
    this.clusterSize = header.clusterSize;
    this.clusterBits = header.clusterBits;
  }

  get hasZeroClusters(): boolean {
    return this.header.version >= 3;
  }

  /**
   * QEMU's qcow2_signal_corruption: the first time, set the corrupt bit (v3,
   * read-write) so the image is refused for writing until repaired.
   */
  corrupt(message: string): BlockError {
    // As QEMU's qcow2_signal_corruption: fatal where the image is writable (any version).
    const fatal = !this.readOnly;
    const line = fatal
      ? `qcow2: Marking image as corrupt: ${message}; further corruption events will be suppressed`
      : `qcow2: Image is corrupt: ${message}; further non-fatal corruption events will be suppressed`;
    if (!this.corruptReported) {
      this.corruptReported = true;
      reportCorruption(line);
      if (fatal && this.header.version >= 3) {
        this.header.incompatibleFeatures |= INCOMPAT_CORRUPT;
        this.markCorruptDone = this.writeHeader().catch(() => {});
      }
    }
    // QEMU then drops the node's driver: every later request fails with ENOMEDIUM and nothing more is written.
    if (fatal) this.unusable = true;
    return new Qcow2CorruptionError(line);
  }

  /** A fatal corruption event happened: requests fail with "No medium found", close writes nothing back. */
  unusable = false;

  /** The header's dirty bit: refcounts on disk may be wrong (QEMU: !qcow2_need_accurate_refcounts). */
  get isDirty(): boolean {
    return (this.header.incompatibleFeatures & INCOMPAT_DIRTY) !== 0n;
  }

  /**
   * Caller holds the lock. With lazy refcounts, called before an L2 or L1
   * change that may reach the file ahead of its refcounts: sets the dirty bit
   * and makes it stable first (QEMU's qcow2_mark_dirty). Cheap once set.
   */
  /** markDirtyIfLazy() has something to do (the hot paths test this before paying for an await). */
  get needsDirtyMark(): boolean {
    return this.lazyRefcounts && !this.isDirty && this.header.version >= 3;
  }

  async markDirtyIfLazy(): Promise<void> {
    if (!this.needsDirtyMark) return;
    await this.writeIncompatibleFeatures(this.header.incompatibleFeatures | INCOMPAT_DIRTY);
    await this.file.flush();
    this.header.incompatibleFeatures |= INCOMPAT_DIRTY;
  }

  /**
   * Clears the dirty bit once every refcount is written back and stable
   * (QEMU's qcow2_mark_clean). Caller holds the lock and has written back all metadata.
   */
  async markClean(): Promise<void> {
    if (!this.isDirty || this.isCorrupt) return;
    await this.file.flush();
    const features = this.header.incompatibleFeatures & ~INCOMPAT_DIRTY;
    await this.writeIncompatibleFeatures(features);
    await this.file.flush();
    this.header.incompatibleFeatures = features;
  }

  /** The header's incompatible_features field alone (8 bytes at 72, one write), as QEMU updates it. */
  private async writeIncompatibleFeatures(features: bigint): Promise<void> {
    const field = new Uint8Array(8);
    new DataView(field.buffer).setBigUint64(0, features);
    await this.file.write(72, field);
  }

  get isCorrupt(): boolean {
    return (this.header.incompatibleFeatures & INCOMPAT_CORRUPT) !== 0n;
  }

  /** Rewrites the whole first cluster (stale bytes of a longer old header must not survive). */
  async writeHeader(): Promise<void> {
    const bytes = this.header.serialize();
    const cluster = new Uint8Array(this.clusterSize);
    cluster.set(bytes);
    await this.file.write(0, cluster);
  }

  /** Throws (and marks corrupt) if guest data for host range [host, host+len) would hit metadata. */
  checkOverlap(host: number, len: number): void {
    const cs = this.clusterSize;
    const h = this.header;
    const end = host + len;
    if (host < cs) throw this.corrupt('Preventing invalid write on metadata (overlaps with qcow2_header)');
    if (h.l1Size > 0 && host < h.l1TableOffset + h.l1Size * 8 && end > h.l1TableOffset) {
      throw this.corrupt('Preventing invalid write on metadata (overlaps with active L1 table)');
    }
    const rt = this.refcounts;
    if (host < rt.offset + rt.clusters * cs && end > rt.offset) {
      throw this.corrupt('Preventing invalid write on metadata (overlaps with refcount table)');
    }
    const first = Math.floor(host / cs);
    const last = Math.floor((end - 1) / cs);
    for (let c = first; c <= last; c++) {
      if (this.metadataClusters.has(c)) {
        throw this.corrupt('Preventing invalid write on metadata (overlaps with active L2 table or refcount block)');
      }
    }
  }

  /** The metadata write-back (created on first use, once refcounts and map exist). */
  get metadata(): Qcow2MetadataCache {
    return (this.metadataCache ??= new Qcow2MetadataCache(this.file, this.refcounts, this.map.cache, () => !this.isDirty));
  }

  /** Caller holds the lock. Writes dirty metadata back if a cache is over its capacity (QEMU writes on eviction). */
  async writeBackIfOverCapacity(): Promise<void> {
    if (this.metadata.overCapacity) await this.metadata.writeBack();
  }

  /**
   * Caller holds the lock (or has the image to itself). Runs `fn` with every
   * metadata change written as it is made, in program order, after writing
   * back what is dirty: snapshots, check/repair, amend and resize reason
   * about the file's metadata step by step and read tables from the file.
   */
  async writeThrough<T>(fn: () => Promise<T>): Promise<T> {
    await this.beginWriteThrough();
    try {
      return await fn();
    } finally {
      this.endWriteThrough();
    }
  }

  /** Takes the lock and runs `fn` under writeThrough: the bracket of snapshot, amend and resize operations. */
  async lockedWriteThrough<T>(fn: () => Promise<T>): Promise<T> {
    await this.lock.lock();
    try {
      return await this.writeThrough(fn);
    } finally {
      this.lock.unlock();
    }
  }

  /** writeThrough's first half, for callers that already have a try/finally (pair with endWriteThrough). */
  async beginWriteThrough(): Promise<void> {
    if (this.writeThroughDepth === 0 && !this.readOnly) await this.metadata.sync();
    this.writeThroughDepth++;
    this.refcounts.writeThrough = true;
    this.map.cache.writeThrough = true;
  }

  endWriteThrough(): void {
    if (--this.writeThroughDepth === 0) {
      this.refcounts.writeThrough = false;
      this.map.cache.writeThrough = false;
    }
  }

  beginRequest(): void {
    this.inflight++;
  }

  /** Ends a data request; the last one out releases deferred frees (no promise at all in the common case). */
  endRequest(): Promise<void> | undefined {
    this.inflight--;
    if (this.inflight === 0 && this.pendingFrees.length > 0) return this.releaseFrees();
    return undefined;
  }

  /**
   * Applies the deferred frees now when the caller's request is the only one
   * in flight (caller does not hold the lock): a discard that needs a new L2
   * table can then reuse what it freed, as in QEMU, where frees are immediate.
   */
  releaseFreesIfAlone(): Promise<void> | undefined {
    if (this.inflight === 1 && this.pendingFrees.length > 0) return this.releaseFrees();
    return undefined;
  }

  /**
   * Queues `count` clusters from host offset `host` for a refcount decrement:
   * one unit (QEMU frees a table or a compressed cluster's bytes with one
   * call), or `eachCluster` (data clusters, which QEMU frees entry by entry:
   * a damaged count fails alone).
   */
  deferFree(host: number, count: number, passDiscard: boolean, eachCluster = false): void {
    this.pendingFrees.push(Math.floor(host / this.clusterSize), count, (passDiscard ? FREE_DISCARD : 0) | (eachCluster ? FREE_EACH : 0));
  }

  /** Queues the host clusters a compressed cluster's bytes touch. */
  deferFreeBytes(host: number, bytes: number): void {
    const cs = this.clusterSize;
    const first = Math.floor(host / cs);
    const last = Math.floor((host + bytes - 1) / cs);
    this.pendingFrees.push(first, last - first + 1, 0);
  }

  async releaseFrees(): Promise<void> {
    await this.lock.lock();
    try {
      // The L2 changes that dropped these references reach the file first;
      // the decrements stay dirty and follow them (Qcow2MetadataCache).
      if (this.pendingFrees.length > 0) await this.metadata.writeBack();
      while (this.pendingFrees.length > 0) {
        const batch = this.pendingFrees;
        this.pendingFrees = [];
        for (let i = 0; i < batch.length; i += 3) {
          const c = batch[i]!;
          const n = batch[i + 1]!;
          const flags = batch[i + 2]!;
          const each = (flags & FREE_EACH) !== 0 && n > 1;
          if ((await this.freeRun(c, n, flags, !each)) || !each) continue;
          for (let k = 0; k < n; k++) await this.freeRun(c + k, 1, flags, true);
        }
      }
    } finally {
      this.lock.unlock();
    }
  }

  /**
   * Frees one queued run; false if a count was already 0: as QEMU, nothing
   * changes, the failure is reported (if `report`) and the request that
   * dropped the reference still succeeds. Only clusters whose count reached
   * 0 are discarded in the file (others are still in a snapshot).
   */
  private async freeRun(c: number, n: number, flags: number, report: boolean): Promise<boolean> {
    const freed = await this.refcounts.free(c, n);
    if (freed < 0) {
      if (report) reportCorruption('qcow2_free_clusters failed: Invalid argument');
      return false;
    }
    if (freed === 0) return true;
    for (let k = 0; k < n; k++) this.metadataClusters.delete(c + k);
    if (!(flags & FREE_DISCARD)) return true;
    if (freed === n) {
      await this.file.discard(c * this.clusterSize, n * this.clusterSize);
      return true;
    }
    for (let k = 0; k < n; k++) {
      if ((await this.refcounts.get(c + k)) === 0) await this.file.discard((c + k) * this.clusterSize, this.clusterSize);
    }
    return true;
  }

  /**
   * Flush: release deferred frees if nothing is in flight (otherwise the last
   * request will), then write all dirty metadata back in dependency order.
   * The generic layer flushes the file after this, making it stable.
   */
  async flushPending(): Promise<void> {
    if (this.readOnly) return;
    if (this.inflight === 0 && this.pendingFrees.length > 0) await this.releaseFrees();
    await this.writeBackAll();
  }

  /**
   * Takes the lock and writes back dirty refcount blocks, then L2 tables
   * (a dirty lazy-refcounts image leaves the refcounts unless `everything`).
   * Always through the lock: a write-back in progress elsewhere has already
   * marked its entries clean, and this flush must not return before they land.
   */
  async writeBackAll(everything = false): Promise<void> {
    await this.lock.lock();
    try {
      if (everything) await this.metadata.writeBackEverything();
      else if (this.metadata.isDirty) await this.metadata.writeBack();
    } finally {
      this.lock.unlock();
    }
  }

  /** Everything written back; a dirty bit this session set (lazy refcounts) is cleared on a clean close. */
  async close(): Promise<void> {
    if (!this.readOnly && !this.unusable) {
      if (this.pendingFrees.length > 0) await this.releaseFrees();
      if (!this.isCorrupt) await this.bitmaps.store();
      await this.writeBackAll(true);
      if (this.lazyRefcounts && this.isDirty) {
        await this.lock.lock();
        try {
          await this.markClean();
        } finally {
          this.lock.unlock();
        }
      }
    }
    await this.markCorruptDone;
  }
}

/** Reads from a node, zero-filling past its end (shorter backing files read as zeroes). */
export async function readNodeZeroPadded(node: Qcow2FileNode, offset: number, buf: Uint8Array): Promise<void> {
  const len = await node.getLength();
  const n = Math.max(0, Math.min(buf.length, len - offset));
  if (n > 0) await node.read(offset, n === buf.length ? buf : buf.subarray(0, n));
  if (n < buf.length) buf.fill(0, n);
}
