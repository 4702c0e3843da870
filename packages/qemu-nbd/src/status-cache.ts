// Recent block-status answers of one export. Every structured READ of 64 KiB
// or more asks whether its range holds zeroes; asking the block layer each
// time costs the file driver an fstat and two lseeks per request. Only this
// server changes the image while it is exported (qemu-nbd-style exclusive
// use, as QEMU's image locking enforces), so an answer stays true until one
// of our own write-type requests starts: every write clears the cache, and
// an answer obtained while a write was running is used once but never kept.
import type { BlockBackend } from '@tsemu/block-core';

/** How far past the asked range one lookup reaches (one lseek pair covers it). */
const WINDOW = 64 << 20;
/** Remembered runs per export (a full cache starts over): 1024 runs cover a 1 GiB image of 1 MiB extents. */
const SLOTS = 1024;

export const STATUS_DATA = 1;
export const STATUS_ZERO = 2;

export class StatusCache {
  /** Disjoint runs sorted by start: [starts[i], ends[i]) has flags[i]. */
  private readonly starts = new Float64Array(SLOTS);
  private readonly ends = new Float64Array(SLOTS);
  private readonly flags = new Uint8Array(SLOTS);
  private used = 0;
  /** Bumped when a write starts or ends: answers from before are not kept. */
  private generation = 0;
  private writing = 0;

  constructor(private readonly blk: BlockBackend, private readonly size: () => number) {}

  /** Index of the last run starting at or before `pos` (-1 if none): binary search. */
  private floor(pos: number): number {
    const starts = this.starts;
    let lo = 0;
    let hi = this.used - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= pos) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi;
  }

  /** Index of a remembered run containing `pos`, or -1. */
  find(pos: number): number {
    const i = this.floor(pos);
    return i >= 0 && pos < this.ends[i]! ? i : -1;
  }

  end(i: number): number {
    return this.ends[i]!;
  }

  flagsOf(i: number): number {
    return this.flags[i]!;
  }

  /** A write-type request (WRITE, WRITE_ZEROES, TRIM) is about to change the image. */
  beginWrite(): void {
    this.writing++;
    this.clear();
  }

  endWrite(): void {
    this.writing--;
    this.clear();
  }

  private clear(): void {
    this.generation++;
    this.used = 0;
  }

  /**
   * The status at `pos`, from the cache or from one block-layer lookup over
   * a window reaching past `end`, into `out`: [end of the run, STATUS_*
   * flags] (the caller's scratch, so nothing is allocated per call).
   */
  async lookup(pos: number, end: number, out: Float64Array): Promise<void> {
    const i = this.find(pos);
    if (i >= 0) {
      out[0] = this.ends[i]!;
      out[1] = this.flags[i]!;
      return;
    }
    const gen = this.generation;
    const limit = Math.min(this.size(), Math.max(end, pos + WINDOW));
    if (limit <= pos) {
      // At or past the end: an empty run (callers stop there).
      out[0] = pos;
      out[1] = 0;
      return;
    }
    const st = await this.blk.blockStatusAbove(pos, limit - pos);
    const runEnd = pos + Math.max(0, Math.min(st.length, limit - pos));
    const flags = (st.data ? STATUS_DATA : 0) | (st.zero ? STATUS_ZERO : 0);
    out[0] = runEnd;
    out[1] = flags;
    if (runEnd > pos && gen === this.generation && this.writing === 0) this.insert(pos, runEnd, flags);
  }

  /** Remembers [start, end) unless a concurrent lookup got there first; clipped so runs stay disjoint. */
  private insert(start: number, end: number, flags: number): void {
    let before = this.floor(start);
    if (before >= 0 && start < this.ends[before]!) return;
    if (this.used === SLOTS) {
      this.used = 0;
      before = -1;
    }
    const at = before + 1;
    if (at < this.used && end > this.starts[at]!) end = this.starts[at]!;
    const n = this.used;
    this.starts.copyWithin(at + 1, at, n);
    this.ends.copyWithin(at + 1, at, n);
    this.flags.copyWithin(at + 1, at, n);
    this.starts[at] = start;
    this.ends[at] = end;
    this.flags[at] = flags;
    this.used = n + 1;
  }
}
