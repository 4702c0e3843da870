// sheep 0.5.6's object cache ("-w object"), reduced to what a client can
// observe: CACHE-flag writes land here dirty and reach the store only on
// FLUSH_VDI; a DIRECT write first flushes and drops the VDI's entries.
//
// Only dirty data is kept; a flushed entry is dropped (clean = the store).
//  - An object created in the cache lives in its own sparse file under
//    <dir>/cache, written with pwrite like the store, and FLUSH_VDI just
//    renames it into the store (no copy) before the fdatasync. The file is
//    made when first needed: one that only got small writes is made at
//    FLUSH_VDI, beside its spill.
//  - Writes to an object the store already has, and small writes (< 256
//    KiB) to a created one, are kept as a list of extents (their payload
//    buffers, newest last) and written on FLUSH_VDI: to the store, or into
//    the created object's cache file (which is older than all its extents;
//    past 1 MiB of them they are written to the file at once). So a 4 KiB write costs no system call before its
//    reply or after it; at FLUSH_VDI each object's fdatasync starts as soon
//    as its writes are in, beside the next object's. (Queue depth 16:
//    4000 writes + flush 257-323 ms median instead of 325-378.)
//  - A big write to a created object is acknowledged once its payload is in
//    the peer's memory and reaches the cache file "behind" the reply, as a
//    kernel's page cache takes a write: on the thread pool, so the copy of
//    megabytes overlaps the next request's transfer. Writes to one object
//    stay in order (its extents go to the file first); at most MAX_BEHIND
//    big ones are pending, and anything else that looks at the cache (a
//    read, a flush, a DIRECT write, a crash) settles them first
//    (SheepNode.handle). A failed write-behind surfaces at that point, as a
//    page cache's at fsync.
//  - Early writeback (with `sync`): once a big write landed in a cache file,
//    that file is fdatasync'ed in the background, two at a time, while the
//    next payloads arrive, as a kernel starts writing dirty pages back before
//    anyone asks. Nothing waits for it and its errors are ignored; FLUSH_VDI
//    still fdatasyncs every file it moves (cheap once the data is on disk),
//    and a crash still loses the files. It moves the disk time of a flush to
//    where the disk was idle: FLUSH_VDI after 64 MiB of 4 MiB writes took
//    22-67 ms instead of 73-134 (one at a time: 37-76; four: 14-64).
// Losing the cache (a crash) deletes the cache files and forgets the extents.
import { closeSync, fdatasync, ftruncateSync, mkdirSync, openSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { oidToHex, oidVid } from '@tsemu/block-sheepdog';
import type { ObjectStore } from './object-store.js';
import { BIG_WRITE, pwriteAll } from './pwrite.js';
import { givePayload } from './payload-pool.js';

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
  /** Queued for (or in) an early writeback. */
  syncQueued: boolean;
  /** Bytes of small writes held as extents by a created entry (spilled into its file past SPILL_BYTES). */
  extentBytes: number;
  /** A created entry: where its data ends (the rest of its file is a hole); the store learns it on FLUSH_VDI. */
  end: number;
  /** A created entry's cache file exists (made on first need: small writes alone wait for FLUSH_VDI). */
  hasFile: boolean;
}

function key(hi: number, lo: number): number {
  return hi * 0x100000 + lo;
}

/** Cache files kept open at once; older ones are closed and reopened when used again. */
const MAX_OPEN_FILES = 128;
/** Big writes acknowledged before they reached their cache file, at most (bounds the payload memory held). */
const MAX_BEHIND = 4;
/** fdatasyncs in flight at once while writing back (well under the store's open descriptors). */
const COMMIT_BATCH = 64;
/** A created entry's small writes kept in memory, at most: past this they go to its file. */
const SPILL_BYTES = 1 << 20;
/** Early writebacks running at once, at most. */
const EARLY_SYNC_GROUP = 2;

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

  constructor(dir: string, private readonly earlySync = false) {
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
      // A created entry's file is made by fileOf() when first needed (see there).
      e = { hi, lo, size, created, fd: -1, extents: [], pending: null, syncQueued: false, extentBytes: 0, end: 0, hasFile: false };
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
      // The least recently used file with no write running behind (at most MAX_BEHIND are) or queued for early writeback.
      for (const [oldKey, old] of this.open) {
        if (old.pending || old.syncQueued) continue;
        this.open.delete(oldKey);
        closeSync(old.fd);
        old.fd = -1;
        break;
      }
    }
    e.fd = fd;
    this.open.set(k, e);
  }

  /**
   * The created entry's file descriptor, reopened if it was closed, made on
   * first use: an object that only gets small writes until FLUSH_VDI (random
   * 4 KiB writes) has its file created there, next to its spill, instead of
   * costing an open and a truncate on the request path.
   */
  private fileOf(e: CacheEntry): number {
    const k = key(e.hi, e.lo);
    if (!e.hasFile) {
      this.remember(k, e, openSync(this.path(e.hi, e.lo), 'w+'));
      ftruncateSync(e.fd, e.size); // sparse: only what is written takes space
      e.hasFile = true;
      return e.fd;
    }
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
    if (offset + data.length > e.end) e.end = offset + data.length;
    if (data.length < BIG_WRITE) {
      // Kept in memory like an existing object's writes; the file is older than every extent.
      addExtent(e, offset, data);
      e.extentBytes += data.length;
      if (e.extentBytes >= SPILL_BYTES) this.spill(e);
      return undefined;
    }
    this.spill(e); // older small writes reach the file first: one object's writes stay in order
    if (this.behind.size >= MAX_BEHIND && !this.behind.has(e)) return this.settle().then(() => this.write(e, offset, data));
    this.writeBehind(e, this.fileOf(e), offset, data);
    return undefined;
  }

  /**
   * Writes a created entry's extents into its file, oldest first: behind a
   * write still running there (chained), else synchronously. A failure is
   * kept for settle(), as a write-behind's.
   */
  private spill(e: CacheEntry): void {
    const list = e.extents;
    if (list.length === 0) return;
    e.extents = [];
    e.extentBytes = 0;
    const fd = this.fileOf(e);
    for (const x of list) {
      if (e.pending) {
        this.writeBehind(e, fd, x.offset, x.data);
        continue;
      }
      try {
        pwriteAll(fd, x.data, x.offset);
      } catch (err) {
        this.behindError ??= err;
      }
    }
  }

  /**
   * Before anything but a cache write: a promise only when big writes are
   * still running behind their replies. Throws the first write-behind failure.
   */
  settleNow(): Promise<void> | undefined {
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

  /** Big writes acknowledged but not yet in their files. */
  get writesBehind(): number {
    return this.behind.size;
  }

  private writeBehind(e: CacheEntry, fd: number, offset: number, data: Uint8Array): void {
    const prev = e.pending;
    const run = (): Promise<void> => pwriteAll(fd, data, offset) ?? Promise.resolve();
    const p: Promise<void> = (prev ? prev.then(run) : run()).then(
      () => {
        givePayload(data); // in its file now: the buffer can carry the next payload
        this.behindDone(e, p);
      },
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
    this.queueEarlySync(e);
  }

  private queueEarlySync(e: CacheEntry): void {
    if (this.earlySync && !e.syncQueued) {
      e.syncQueued = true;
      this.syncQueue.push(e);
      if (this.syncing === 0) this.nextEarlySync();
    }
  }

  /** Entries whose cache file gets an early fdatasync; `syncing` counts those running. */
  private syncQueue: CacheEntry[] = [];
  private syncing = 0;
  /** Early writebacks completed (tests check they happen, and only with `sync`). */
  earlySyncCount = 0;
  private readonly earlySyncDone = (): void => {
    this.earlySyncCount++;
    if (--this.syncing === 0) this.nextEarlySync();
  };

  /**
   * Starts the next round of early writebacks: every file queued so far (at
   * most EARLY_SYNC_GROUP), in parallel so their journal commits can merge;
   * the next round when all are done, so the thread pool stays free for writes.
   */
  private nextEarlySync(): void {
    while (this.syncQueue.length > 0 && this.syncing < EARLY_SYNC_GROUP) {
      const e = this.syncQueue.shift()!;
      e.syncQueued = false; // a write landing from now on queues the file again
      // Flushed, dropped or closed meanwhile: FLUSH_VDI's own fdatasync (or nobody) takes care of it.
      if (e.fd < 0 || this.entries.get(key(e.hi, e.lo)) !== e) continue;
      this.syncing++;
      // An error changes nothing: the flush syncs again and reports. Should the descriptor be closed
      // before a pool thread gets to it, the call fails or syncs whatever file took the number: harmless.
      fdatasync(e.fd, this.earlySyncDone);
    }
  }

  /** Waits until every write-behind reached its file; rethrows the first that failed. */
  async settle(): Promise<void> {
    while (this.behind.size > 0) {
      const waits: Promise<void>[] = [];
      for (const e of this.behind) waits.push(e.pending!);
      await Promise.all(waits);
    }
    this.throwBehindError();
  }

  /** Fills `dst` with the object's current bytes from `offset`. */
  read(e: CacheEntry, store: ObjectStore, offset: number, dst: Uint8Array): void {
    if (e.created && !e.hasFile) {
      dst.fill(0); // all its bytes are in its extents so far
      overlay(e, offset, dst);
      return;
    }
    if (e.created) {
      const fd = this.fileOf(e);
      let done = 0;
      while (done < dst.length) {
        const n = readSync(fd, dst, done, dst.length - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      if (done < dst.length) dst.fill(0, done); // sparse past the last write
      overlay(e, offset, dst);
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
    if (e.hasFile) rmSync(this.path(e.hi, e.lo), { force: true });
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
      this.spill(e);
      if (e.pending) await e.pending; // callers settle first; this only keeps the order if one did not
      this.throwBehindError();
      this.fileOf(e); // made now if nothing needed it before (an object created with no data)
      this.release(e, true); // the store takes the descriptor over
      store.adopt(e.hi, e.lo, this.path(e.hi, e.lo), e.fd, e.end);
      return;
    }
    for (const x of e.extents) {
      const pending = store.write(e.hi, e.lo, x.offset, x.data);
      if (pending instanceof Promise) await pending;
    }
  }

  /**
   * FLUSH_VDI: the VDI's dirty objects go to the store and are made durable
   * there. Each object's fdatasync starts as soon as it is written back, so
   * the disk works on one while the next one's small writes land.
   */
  async flushVdi(store: ObjectStore, vid: number): Promise<void> {
    if (!this.perVid.has(vid)) return;
    const moving: CacheEntry[] = [];
    for (const e of this.entries.values()) if (oidVid(e.hi) === vid) moving.push(e);
    await this.writeBackAll(store, moving);
  }

  async flushAll(store: ObjectStore): Promise<void> {
    await this.settle();
    await this.writeBackAll(store, [...this.entries.values()]);
  }

  /** Writes back each entry in turn, starting its fdatasync at once; an entry leaves the cache once written back. */
  private async writeBackAll(store: ObjectStore, list: CacheEntry[]): Promise<void> {
    let syncs: Promise<void>[] = [];
    try {
      for (const e of list) {
        await this.writeBack(store, e);
        this.untrack(key(e.hi, e.lo), e); // one that failed stays dirty
        syncs.push(store.commitAsync(e.hi, e.lo));
        // Bounded: the descriptors being synced stay the most recently used, so the store never closes one.
        if (syncs.length >= COMMIT_BATCH) {
          const batch = syncs;
          syncs = [];
          await Promise.all(batch);
        }
      }
    } catch (err) {
      await Promise.allSettled(syncs); // none left running (or unhandled) behind the failure
      throw err;
    }
    syncs.push(store.commitRenames());
    await Promise.all(syncs);
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
