// Qcow2MetadataCache: write-back ordering between the two metadata caches
// (refcount blocks in Qcow2RefcountTable, L2 tables in Qcow2L2Cache), in the
// spirit of QEMU's Qcow2Cache dependencies. Both caches keep changed entries
// dirty in memory; this decides when and in which order they reach the file:
//
//   - refcount blocks are written, and the file flushed, before any L2 table
//     (an L2 entry may point at a cluster whose new refcount is in them);
//   - a refcount *decrement* is applied only after the L2 change that dropped
//     the reference was written (Qcow2Image.releaseFrees writes back first),
//     and reaches the file only after that L2 write was flushed;
//   - data written into new clusters (a copy-on-write carries old guest data)
//     is flushed before the L2 tables pointing at it are written;
//   - a new L2 table is written and flushed before the L1 entry naming it
//     (Qcow2Writer.writableTable, through writeBackRefcountsAndFlush).
//
// A process crash or host crash at any point therefore leaves at most leaked
// clusters. With lazy refcounts, once the image's dirty bit is set (`accurate`
// turns false), the first rule is dropped, as QEMU does: L2 tables and new
// L2 tables' L1 entries no longer wait for refcount blocks, and a flush
// writes only L2 tables; refcount blocks reach the file on close or under
// cache pressure. A crash then leaves refcounts that a repair (on the next
// read-write open) rebuilds; the decrement and data rules still hold. Unflushed data is the guest's business: after its flush (which
// calls writeBack and then flushes the file) everything acknowledged is stable.
// Callers hold the image's metadata lock.
import type { Qcow2HostFile } from './host-file.js';
import type { Qcow2L2Cache } from './l2-cache.js';
import type { Qcow2RefcountTable } from './refcount-table.js';

export class Qcow2MetadataCache {
  /** Refcount blocks written since the last flush (an L2 write must wait for a flush). */
  private refcountsUnflushed = false;
  /** L2 tables written since the last flush (a refcount decrement must wait for a flush). */
  private l2Unflushed = false;
  /**
   * Data written into new clusters since the last flush, that dirty L2
   * entries now point at. For a copy-on-write it holds old, stable guest
   * data: it must be stable before the L2 entry is (QEMU's depends_on_flush).
   */
  private dataUnflushed = false;

  constructor(
    private readonly file: Qcow2HostFile,
    private readonly refcounts: Qcow2RefcountTable,
    private readonly l2: Qcow2L2Cache,
    /** False while the image's dirty bit is set (lazy refcounts): refcounts on disk need not be exact. */
    private readonly accurate: () => boolean = () => true,
  ) {}

  get isDirty(): boolean {
    return this.refcounts.dirtyCount > 0 || this.l2.dirtyCount > 0;
  }

  /** A cache holds more than its capacity because dirty entries cannot be evicted. */
  get overCapacity(): boolean {
    return this.l2.overCapacity || this.refcounts.overCapacity;
  }

  async flushFile(): Promise<void> {
    await this.file.flush();
    this.refcountsUnflushed = false;
    this.l2Unflushed = false;
    this.dataUnflushed = false;
  }

  /** Records that an L2 entry now points at freshly written data (see dataUnflushed). */
  newDataLinked(): void {
    this.dataUnflushed = true;
  }

  async writeBackRefcounts(): Promise<void> {
    if (this.refcounts.dirtyCount === 0) return;
    if (this.refcounts.hasDecrements && this.l2Unflushed) await this.flushFile();
    await this.refcounts.writeBack();
    this.refcountsUnflushed = true;
  }

  /** Refcounts written and stable: what must precede a new L2 table or L1 entry (nothing on a dirty image). */
  async writeBackRefcountsAndFlush(): Promise<void> {
    if (!this.accurate()) return;
    await this.writeBackRefcounts();
    if (this.refcountsUnflushed) await this.flushFile();
  }

  async writeBackL2(): Promise<void> {
    if (this.l2.dirtyCount === 0) return;
    if (this.accurate()) await this.writeBackRefcounts();
    if ((this.refcountsUnflushed && this.accurate()) || this.dataUnflushed) await this.flushFile();
    await this.l2.writeBack();
    this.l2Unflushed = true;
  }

  /**
   * What a flush (or cache pressure) writes, in dependency order; not flushed
   * at the end (the caller's flush does that). A dirty lazy-refcounts image
   * keeps its refcount blocks unless their cache is over capacity (QEMU's
   * qcow2_write_caches).
   */
  async writeBack(): Promise<void> {
    if (this.accurate() || this.refcounts.overCapacity) await this.writeBackRefcounts();
    await this.writeBackL2();
  }

  /** Every dirty refcount block and L2 table (close, structural operations). */
  async writeBackEverything(): Promise<void> {
    await this.writeBackRefcounts();
    await this.writeBackL2();
  }

  /** writeBackEverything, then a flush: what a structural change (snapshot table, header) must follow. */
  async sync(): Promise<void> {
    await this.writeBackEverything();
    await this.flushFile();
  }
}
