// The "backend": one sparse file per object under <dir>/obj, named by the oid
// in hex as sheep does. What is here survives a lost object cache and a peer
// restart (a daemon crash, not a power cut: nothing is fsynced unless the
// peer runs with `sync`, then every write that reaches the store is).
//
// Fast path: file descriptors stay open (bounded, least recently used closed
// first); reads and small writes are synchronous pread/pwrite (the peer runs
// one request at a time, so a thread-pool hop would only add latency), big
// payloads go through the thread pool (pwrite.ts).
import { fdatasync, fsync, closeSync, existsSync, fdatasyncSync, ftruncateSync, mkdirSync, openSync, readSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { oidToHex } from '@tsemu/block-sheepdog';
import { pwriteAll, type Maybe } from './pwrite.js';

/** Open descriptors kept at most (well under the usual 1024 limit). */
const MAX_OPEN = 512;
/** fdatasyncs in flight at once in commitAll (their descriptors are the most recently used, so none is evicted). */
const COMMIT_BATCH = 64;

/** hi keeps the flag bits and the 24-bit vid (< 2^32), lo the 20-bit index: hi * 2^20 + lo stays exact. */
function key(hi: number, lo: number): number {
  return hi * 0x100000 + lo;
}

const ZERO_CHUNK = Buffer.alloc(64 * 1024);

/** Where `buf`'s data ends: the index after its last non-zero byte (0 when all zero). Whole zero chunks are compared natively. */
export function dataEndOf(buf: Uint8Array): number {
  let end = buf.length;
  while (end > 0) {
    const start = Math.max(0, end - ZERO_CHUNK.length);
    if (!Buffer.from(buf.buffer, buf.byteOffset + start, end - start).equals(ZERO_CHUNK.subarray(0, end - start))) break;
    end = start;
  }
  while (end > 0 && buf[end - 1] === 0) end--;
  return end;
}

export class ObjectStore {
  readonly objDir: string;
  private readonly fds = new Map<number, number>();
  /**
   * Per object this peer wrote: where its data ends (every byte past it is
   * a hole, so zero). Absent: unknown (a file found at start). Lets a read
   * of a mostly empty object (the 4 MiB inode read at every open) skip the
   * holes: readHead() reads the head, the reply sends zeros for the rest.
   */
  private readonly dataEnd = new Map<number, number>();
  /** fdatasyncs completed so far (tests check that writes share them). */
  syncCount = 0;
  /** fsyncs of the object folder (after renames into it) completed so far. */
  dirSyncCount = 0;

  constructor(dir: string, private readonly syncWrites = false) {
    this.objDir = join(dir, 'obj');
  }

  async init(): Promise<void> {
    mkdirSync(this.objDir, { recursive: true });
  }

  /** An object file was renamed in (adopt) since the last commitAll: the folder needs its fsync too. */
  private renamed = false;

  /** fsync of <dir>/obj, so renames into it survive a power cut (a file's fdatasync does not cover its name). */
  private syncDir(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let fd: number;
      try {
        fd = openSync(this.objDir, 'r');
      } catch (err) {
        reject(err);
        return;
      }
      fsync(fd, (err) => {
        closeSync(fd);
        if (err) return reject(err);
        this.dirSyncCount++;
        resolve();
      });
    });
  }

  private path(hi: number, lo: number): string {
    return join(this.objDir, oidToHex(hi, lo));
  }

  private remember(k: number, fd: number): number {
    if (this.fds.size >= MAX_OPEN) {
      const [oldKey, oldFd] = this.fds.entries().next().value as [number, number];
      this.fds.delete(oldKey);
      closeSync(oldFd);
    }
    this.fds.set(k, fd);
    return fd;
  }

  /** The object's descriptor, opened on demand; -1 when the object does not exist. */
  private fd(hi: number, lo: number): number {
    const k = key(hi, lo);
    const fd = this.fds.get(k);
    if (fd !== undefined) {
      // Least recently used goes first: move this one to the end.
      this.fds.delete(k);
      this.fds.set(k, fd);
      return fd;
    }
    try {
      return this.remember(k, openSync(this.path(hi, lo), 'r+'));
    } catch {
      return -1;
    }
  }

  exists(hi: number, lo: number): boolean {
    return this.fds.has(key(hi, lo)) || existsSync(this.path(hi, lo));
  }

  /** Creates (or empties) the object: a sparse file of `size` bytes; `data` at `offset` if given. Sync for small data. */
  put(hi: number, lo: number, size: number, data?: Uint8Array, offset = 0): Promise<void> | undefined {
    const k = key(hi, lo);
    let fd = this.fds.get(k);
    if (fd === undefined) {
      // 'w+' truncates; a replaced file is rare (double creates), a fresh one the rule.
      fd = this.remember(k, openSync(this.path(hi, lo), 'w+'));
    } else {
      ftruncateSync(fd, 0);
    }
    ftruncateSync(fd, size);
    const n = data ? data.length : 0;
    this.dataEnd.set(k, n > 0 ? offset + n : 0);
    return n > 0 ? pwriteAll(fd, data!, offset) : undefined;
  }

  /** Makes the object's writes durable when the peer runs with `sync` (a store write is done, as sheep's O_DSYNC). */
  commit(hi: number, lo: number): void {
    if (!this.syncWrites) return;
    const fd = this.fd(hi, lo);
    if (fd >= 0) {
      fdatasyncSync(fd);
      this.syncCount++;
    }
  }

  /** Objects written since the last commitPending(), made durable together (group commit). */
  private readonly toCommit = new Map<number, readonly [number, number]>();

  /** commit() deferred: the caller holds the reply until commitPending() resolves. */
  commitLater(hi: number, lo: number): void {
    if (this.syncWrites) this.toCommit.set(key(hi, lo), [hi, lo]);
  }

  get commitsPending(): boolean {
    return this.toCommit.size > 0;
  }

  /**
   * The group commit when it is one object (a queue depth of 1): done here,
   * synchronously, as a thread-pool hop would only add a wake-up. False when
   * there are several: use commitPending().
   */
  commitPendingSync(): boolean {
    if (this.toCommit.size > 1) return false;
    for (const [hi, lo] of this.toCommit.values()) {
      this.toCommit.clear();
      this.commit(hi, lo);
    }
    return true;
  }

  /** Makes every object of commitLater() durable, their fdatasyncs in parallel. */
  commitPending(): Promise<void> {
    const oids = [...this.toCommit.values()];
    this.toCommit.clear();
    return this.commitAll(oids);
  }

  /** Starts one object's fdatasync (with `sync`) on the thread pool; resolves when it completed. */
  commitAsync(hi: number, lo: number): Promise<void> {
    if (!this.syncWrites) return Promise.resolve();
    const fd = this.fd(hi, lo);
    if (fd < 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => fdatasync(fd, (err) => {
      if (err) return reject(err);
      this.syncCount++;
      resolve();
    }));
  }

  /** The folder's fsync (with `sync`) when objects were renamed into it since the last commit. */
  commitRenames(): Promise<void> {
    if (!this.syncWrites || !this.renamed) return Promise.resolve();
    this.renamed = false;
    return this.syncDir();
  }

  /**
   * commit() for many objects at once (a FLUSH_VDI): the fdatasyncs run in
   * parallel on the thread pool, so the file system can group their journal
   * commits instead of paying one per object.
   */
  async commitAll(oids: ReadonlyArray<readonly [number, number]>): Promise<void> {
    if (!this.syncWrites) return;
    // The folder's fsync runs beside the first batch: the renames are already in the journal's running transaction.
    let dir: Promise<void> | null = null;
    if (this.renamed) {
      this.renamed = false;
      dir = this.syncDir();
      dir.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"
    }
    for (let at = 0; at < oids.length; at += COMMIT_BATCH) {
      const fds: number[] = [];
      for (const [hi, lo] of oids.slice(at, at + COMMIT_BATCH)) {
        const fd = this.fd(hi, lo);
        if (fd >= 0) fds.push(fd);
      }
      await Promise.all(fds.map((fd) => new Promise<void>((resolve, reject) => fdatasync(fd, (err) => {
        if (err) return reject(err);
        this.syncCount++;
        resolve();
      }))));
    }
    if (dir) await dir;
  }

  /** Takes over a complete object file (a created cache object on FLUSH_VDI): renamed into place, its descriptor (if open, else -1) kept. */
  adopt(hi: number, lo: number, from: string, fd: number, end = -1): void {
    const k = key(hi, lo);
    if (end >= 0) this.dataEnd.set(k, end);
    else this.dataEnd.delete(k);
    const old = this.fds.get(k);
    if (old !== undefined) {
      this.fds.delete(k);
      closeSync(old);
    }
    renameSync(from, this.path(hi, lo));
    this.renamed = true;
    if (fd >= 0) this.remember(k, fd);
  }

  /** Reads `length` bytes at `offset` (zeros past the end); null when the object does not exist. */
  read(hi: number, lo: number, offset: number, length: number): Buffer | null {
    const buf = Buffer.allocUnsafe(length);
    return this.readInto(hi, lo, offset, buf) ? buf : null;
  }

  /**
   * Reads `length` bytes at `offset` as a head read from the file and a
   * count of zeros after it (the holes past the object's known data end);
   * null when the object does not exist.
   */
  readHead(hi: number, lo: number, offset: number, length: number): { head: Buffer; zeros: number } | null {
    const end = this.dataEnd.get(key(hi, lo));
    const headLength = end === undefined ? length : Math.max(0, Math.min(length, end - offset));
    const head = Buffer.allocUnsafe(headLength);
    return this.readInto(hi, lo, offset, head) ? { head, zeros: length - headLength } : null;
  }

  /** Fills `dst` from `offset`; false when the object does not exist. */
  readInto(hi: number, lo: number, offset: number, dst: Uint8Array): boolean {
    const fd = this.fd(hi, lo);
    if (fd < 0) return false;
    let done = 0;
    while (done < dst.length) {
      const n = readSync(fd, dst, done, dst.length - done, offset + done);
      if (n === 0) break;
      done += n;
    }
    if (done < dst.length) dst.fill(0, done);
    return true;
  }

  /** Writes into an existing object; false when it does not exist. Sync for small data. */
  write(hi: number, lo: number, offset: number, data: Uint8Array): Maybe<boolean> {
    const fd = this.fd(hi, lo);
    if (fd < 0) return false;
    const k = key(hi, lo);
    const end = this.dataEnd.get(k);
    if (end !== undefined && offset + data.length > end) this.dataEnd.set(k, offset + data.length);
    const pending = pwriteAll(fd, data, offset);
    return pending ? pending.then(() => true) : true;
  }

  remove(hi: number, lo: number): void {
    const k = key(hi, lo);
    this.dataEnd.delete(k);
    const fd = this.fds.get(k);
    if (fd !== undefined) {
      this.fds.delete(k);
      closeSync(fd);
    }
    rmSync(this.path(hi, lo), { force: true });
  }

  /** Every stored oid as [hi, lo]. */
  list(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (const n of readdirSync(this.objDir)) {
      if (!/^[0-9a-f]{16}$/.test(n)) continue;
      out.push([parseInt(n.slice(0, 8), 16), parseInt(n.slice(8), 16)]);
    }
    return out;
  }

  /** Closes every descriptor (the peer is going down). */
  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
