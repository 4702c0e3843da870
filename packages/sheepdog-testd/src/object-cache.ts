// sheep 0.5.6's object cache ("-w object"), reduced to what a client can
// observe: CACHE-flag writes land here dirty and reach the store only on
// FLUSH_VDI; a DIRECT write first flushes and drops the VDI's entries.
//
// Only dirty data is kept; a flushed entry is dropped (clean = the store).
//  - An object created in the cache lives in its own sparse file under
//    <dir>/cache, written with pwrite like the store: the kernel starts
//    writing it back at once, and FLUSH_VDI just renames it into the store
//    (no copy) before the fdatasync.
//  - Writes to an object the store already has are kept as a list of
//    extents (their payload buffers, newest last) and written on FLUSH_VDI.
//  - A write to a created object is acknowledged once its payload is in the
//    peer's memory and reaches the cache file "behind" the reply, as a
//    kernel's page cache takes a write: small ones in a batch right after
//    this tick's replies left (setImmediate), big ones (>= 256 KiB) on the
//    thread pool, so the copy of megabytes overlaps the next request's
//    transfer. Writes to one object stay in order; at most MAX_BEHIND big
//    ones are pending, and anything else that looks at the cache (a read, a
//    flush, a DIRECT write, a crash) settles them first (SheepNode.handle).
//    A failed write-behind surfaces at that point, as a page cache's at fsync.
// Losing the cache (a crash) deletes the cache files and forgets the extents.
import { closeSync, ftruncateSync, mkdirSync, openSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { oidToHex, oidVid } from '@tsemu/block-sheepdog';
import type { ObjectStore } from './object-store.js';
import { BIG_WRITE, pwriteAll } from './pwrite.js';

export interface Extent {
  offset: number;
  data: Uint8Array;
}

export interface CacheEntry {
  hi: number;
  lo: number;
  size: number;
  /** The object exists only here: its bytes are in its cache file (no extents then). */
  created: boolean;
  /** That file's descriptor while open (-1: closed to bound open files; reopened on use). */
  fd: number;
  extents: Extent[];
  /** The last write still running behind its reply (created entries only), or null. */
  pending: Promise<void> | null;
}

function key(hi: number, lo: number): number {
  return hi * 0x100000 + lo;
}

/** Cache files kept open at once; older ones are closed and reopened when used again. */
const MAX_OPEN_FILES = 128;
/** Big writes acknowledged before they reached their cache file, at most (bounds the payload memory held). */
const MAX_BEHIND = 4;

/** Adds a write to an entry's extents; older writes it covers completely are dropped (rewrites do not pile up). */
function addExtent(e: CacheEntry, offset: number, data: Uint8Array): void {
  const end = offset + data.length;
  const list = e.extents;
  let w = 0;
  for (let r = 0; r < list.length; r++) {
    const x = list[r]!;
    if (x.offset >= offset && x.offset + x.data.length <= end) continue;
    list[w++] = x;
  }
  list.length = w;
  list.push({ offset, data });
}

/** Overlays the entry's dirty extents onto `dst`, which holds bytes [offset, offset + dst.length) of the object. */
function overlay(e: CacheEntry, offset: number, dst: Uint8Array): void {
  const end = offset + dst.length;
  for (const x of e.extents) {
    const from = Math.max(offset, x.offset);
    const to = Math.min(end, x.offset + x.data.length);
    if (from < to) dst.set(x.data.subarray(from - x.offset, to - x.offset), from - offset);
  }
}

export class ObjectCache {
  private readonly entries = new Map<number, CacheEntry>();
  /** Dirty entries per vid: a DIRECT write to a VDI with nothing cached skips the flush walk. */
  private readonly perVid = new Map<number, number>();
  /** Created entries whose file is open, least recently used first. */
  private readonly open = new Map<number, CacheEntry>();
  readonly cacheDir: string;

  constructor(dir: string) {
    this.cacheDir = join(dir, 'cache');
  }

  /** Anything left in the cache folder is from a daemon that died: lost, as the crash model says. */
  init(): void {
    rmSync(this.cacheDir, { recursive: true, force: true });
    mkdirSync(this.cacheDir, { recursive: true });
  }

  private path(hi: number, lo: number): string {
    return join(this.cacheDir, oidToHex(hi, lo));
  }

  get(hi: number, lo: number): CacheEntry | undefined {
    return this.entries.get(key(hi, lo));
  }

  /** The entry for an object, made on first use; `created`: the store does not have it. */
  entry(hi: number, lo: number, size: number, created: boolean): CacheEntry {
    const k = key(hi, lo);
    let e = this.entries.get(k);
    if (!e) {
      e = { hi, lo, size, created, fd: -1, extents: [], pending: null };
      if (created) {
        this.remember(k, e, openSync(this.path(hi, lo), 'w+'));
        ftruncateSync(e.fd, size); // sparse: only what is written takes space
      }
      this.entries.set(k, e);
      const vid = oidVid(hi);
      this.perVid.set(vid, (this.perVid.get(vid) ?? 0) + 1);
    }
    return e;
  }

  /** Whether the VDI has anything dirty here. */
  hasVdi(vid: number): boolean {
    return this.perVid.has(vid);
  }

  /** Forgets one entry of the map and of the per-vid count. */
  private untrack(k: number, e: CacheEntry): void {
    this.entries.delete(k);
    const vid = oidVid(e.hi);
    const n = (this.perVid.get(vid) ?? 1) - 1;
    if (n > 0) this.perVid.set(vid, n);
    else this.perVid.delete(vid);
  }

  private remember(k: number, e: CacheEntry, fd: number): void {
    if (this.open.size >= MAX_OPEN_FILES) {
      // The least recently used file with no write running behind (at most MAX_BEHIND are).
      for (const [oldKey, old] of this.open) {
        if (old.pending) continue;
        this.open.delete(oldKey);
        closeSync(old.fd);
        old.fd = -1;
        break;
      }
    }
    e.fd = fd;
    this.open.set(k, e);
  }

  /** The created entry's file descriptor, reopened if it was closed. */
  private fileOf(e: CacheEntry): number {
    const k = key(e.hi, e.lo);
    if (e.fd >= 0) {
      this.open.delete(k);
      this.open.set(k, e);
      return e.fd;
    }
    this.remember(k, e, openSync(this.path(e.hi, e.lo), 'r+'));
    return e.fd;
  }

  /** Synchronous (undefined), or a promise only when MAX_BEHIND writes are already pending. */
  write(e: CacheEntry, offset: number, data: Uint8Array): Promise<void> | undefined {
    if (!e.created) {
      addExtent(e, offset, data);
      return undefined;
    }
    if (!e.pending && data.length < BIG_WRITE) {
      this.deferred.push({ e, offset, data });
      if (!this.applyScheduled) {
        this.applyScheduled = true;
        setImmediate(this.applyDeferred);
      }
      return undefined;
    }
    this.applyDeferred(); // small writes queued earlier land first: one object's writes stay in order
    if (this.behind.size >= MAX_BEHIND && !this.behind.has(e)) return this.settle().then(() => this.write(e, offset, data));
    this.writeBehind(e, this.fileOf(e), offset, data);
    return undefined;
  }

  /** Small writes to created objects, in arrival order, not yet in their files. */
  private deferred: Array<{ e: CacheEntry; offset: number; data: Uint8Array }> = [];
  private applyScheduled = false;

  /** Writes the deferred small writes (synchronous pwrites); a failure is kept for settle(). */
  readonly applyDeferred = (): void => {
    this.applyScheduled = false;
    if (this.deferred.length === 0) return;
    const list = this.deferred;
    this.deferred = [];
    for (const w of list) {
      try {
        pwriteAll(this.fileOf(w.e), w.data, w.offset);
      } catch (err) {
        this.behindError ??= err;
      }
    }
  };

  /**
   * Before anything but a cache write: lands the deferred small writes now;
   * returns a promise only when big ones are still running. Throws the first
   * write-behind failure.
   */
  settleNow(): Promise<void> | undefined {
    this.applyDeferred();
    if (this.behind.size > 0) return this.settle();
    this.throwBehindError();
    return undefined;
  }

  private throwBehindError(): void {
    const err = this.behindError;
    if (err !== null) {
      this.behindError = null;
      throw err;
    }
  }

  /** Entries with a write running behind its reply. */
  private readonly behind = new Set<CacheEntry>();
  /** The first failure of a write-behind, reported by the next settle(). */
  private behindError: unknown = null;

  /** Writes acknowledged but not yet in their files (deferred small ones and running big ones). */
  get writesBehind(): number {
    return this.behind.size + this.deferred.length;
  }

  private writeBehind(e: CacheEntry, fd: number, offset: number, data: Uint8Array): void {
    const prev = e.pending;
    const run = (): Promise<void> => pwriteAll(fd, data, offset) ?? Promise.resolve();
    const p: Promise<void> = (prev ? prev.then(run) : run()).then(
      () => this.behindDone(e, p),
      (err: unknown) => {
        this.behindError ??= err;
        this.behindDone(e, p);
      },
    );
    e.pending = p;
    this.behind.add(e);
  }

  private behindDone(e: CacheEntry, p: Promise<void>): void {
    if (e.pending !== p) return; // a later write is chained on this one
    e.pending = null;
    this.behind.delete(e);
  }

  /** Waits until every write-behind reached its file; rethrows the first that failed. */
  async settle(): Promise<void> {
    this.applyDeferred();
    while (this.behind.size > 0) {
      const waits: Promise<void>[] = [];
      for (const e of this.behind) waits.push(e.pending!);
      await Promise.all(waits);
    }
    this.throwBehindError();
  }

  /** Fills `dst` with the object's current bytes from `offset`. */
  read(e: CacheEntry, store: ObjectStore, offset: number, dst: Uint8Array): void {
    if (e.created) {
      const fd = this.fileOf(e);
      let done = 0;
      while (done < dst.length) {
        const n = readSync(fd, dst, done, dst.length - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      if (done < dst.length) dst.fill(0, done); // sparse past the last write
      return;
    }
    if (!store.readInto(e.hi, e.lo, offset, dst)) dst.fill(0);
    overlay(e, offset, dst);
  }

  /** Forgets an entry without writing it back (discard, crash). */
  delete(hi: number, lo: number): void {
    const k = key(hi, lo);
    const e = this.entries.get(k);
    if (!e) return;
    this.untrack(k, e);
    this.discardFile(e);
  }

  private discardFile(e: CacheEntry): void {
    if (!e.created) return;
    this.release(e);
    rmSync(this.path(e.hi, e.lo), { force: true });
  }

  /** Stops tracking a created entry's descriptor; closes it unless `keep`. */
  private release(e: CacheEntry, keep = false): void {
    this.open.delete(key(e.hi, e.lo));
    if (e.fd >= 0 && !keep) closeSync(e.fd);
    if (!keep) e.fd = -1;
  }

  get dirtyCount(): number {
    return this.entries.size;
  }

  /** Writes an entry back to the store (not yet durable: the caller commits). */
  private async writeBack(store: ObjectStore, e: CacheEntry): Promise<void> {
    if (e.created) {
      this.release(e, true); // the store takes the descriptor over
      store.adopt(e.hi, e.lo, this.path(e.hi, e.lo), e.fd);
      return;
    }
    for (const x of e.extents) {
      const pending = store.write(e.hi, e.lo, x.offset, x.data);
      if (pending instanceof Promise) await pending;
    }
  }

  /** FLUSH_VDI: the VDI's dirty objects go to the store and are made durable there. */
  async flushVdi(store: ObjectStore, vid: number): Promise<void> {
    const done: Array<[number, number]> = [];
    if (!this.perVid.has(vid)) return;
    for (const [k, e] of this.entries) {
      if (oidVid(e.hi) !== vid) continue;
      this.untrack(k, e);
      await this.writeBack(store, e);
      done.push([e.hi, e.lo]);
    }
    await store.commitAll(done);
  }

  async flushAll(store: ObjectStore): Promise<void> {
    await this.settle();
    const done: Array<[number, number]> = [];
    const all = [...this.entries.values()];
    this.entries.clear();
    this.perVid.clear();
    for (const e of all) {
      await this.writeBack(store, e);
      done.push([e.hi, e.lo]);
    }
    await store.commitAll(done);
  }

  /** A daemon crash: unflushed data is gone. Returns how many dirty objects were lost. */
  loseAll(): number {
    const lost = this.entries.size;
    for (const e of this.entries.values()) this.discardFile(e);
    this.entries.clear();
    this.perVid.clear();
    return lost;
  }
}
