// Protocol driver `file`: a host file through node:fs (an FdFile, FileHandle's
// API over node:fs's callbacks, see fd-file.ts; the hot single-buffer reads
// and writes use fs.read/fs.write on its fd, see FsRequest).
// With the host page cache in use, a request first tries preadv2/pwritev2 with
// RWF_NOWAIT (@tsemu/host-io): a page-cache hit completes synchronously in
// ~1 us instead of a ~30 us libuv thread-pool round trip; a miss (EAGAIN, a
// short transfer, any error) takes the asynchronous path as before.
// cache.direct opens with O_DIRECT (aligned bounce buffers, requestAlignment =
// logical block size); when the filesystem refuses O_DIRECT (tmpfs: EINVAL)
// we use O_DSYNC instead, so the "bypass" promise degrades to "every write is
// synchronous", and report which one happened in hostCacheBypass.
import { CREATE_REQUEST, type PermRequest } from '../perm.js';
import { imageLocking, relock } from './file-lock.js';
import { constants, fstatSync, read as fsRead, statfsSync, write as fsWrite, writeSync } from 'node:fs';
import { FdFile, statPath } from './fd-file.js';
import type { CacheFlags } from '../cache.js';
import type {
  BlockDriver, BlockDriverState, BlockStatus, CreateContext, OpenContext, Preallocation, WriteFlags, ZeroFlags,
} from '../driver.js';
import { BlockError, fromNodeError } from '../errors.js';
import { parseBool, parseSizeOption } from '../options.js';
import { parseCNumber } from '../util/c-number.js';
import { copyFromIov, copyToIov, sharedZeroes, sliceIov, zeroIov } from '../iov.js';
import type { HostCacheBypass } from '../backend.js';
import { AlignedBouncePool, BOUNCE_CHUNK, probeDirectGeometryFor } from './aligned-bounce.js';
import {
  FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, MAP_EAGAIN, MAP_ERANGE, NOWAIT_EINVAL, NOWAIT_EOPNOTSUPP, NOWAIT_ENOSYS,
  NOWAIT_IOV_MAX, hostIo,
} from '@tsemu/host-io';

/** Counters the durability tests read to check the mechanism, not just the outcome. */
export interface FileIoStats {
  reads: number;
  writes: number;
  /** Completed fdatasync calls. */
  datasyncs: number;
  /** Reads / writes completed synchronously by RWF_NOWAIT (page-cache hits). */
  nowaitReads: number;
  nowaitWrites: number;
  /** RWF_NOWAIT attempts that fell back to the asynchronous path (miss, short transfer, error). */
  readFallbacks: number;
  writeFallbacks: number;
  /** Writes done with a synchronous pwrite (`syncWrites`), and how many of them were slow enough to back off. */
  syncWrites: number;
  slowSyncWrites: number;
  /** Ranges handed out as page-cache views by mapForRead. */
  mappedReads: number;
  /** Writes whose range was allocated first (see FileDriverState.allocateWrites). */
  allocatedWrites: number;
}

/** What a fast-path hit returns: one settled promise, shared (no allocation per request). */
const DONE: Promise<void> = Promise.resolve();
/**
 * Largest request tried with RWF_NOWAIT. Below it the thread-pool round trip
 * dominates; above it the copy does, and doing it on a pool thread lets
 * concurrent requests (convert, NBD at queue depth) overlap with JS work.
 */
export const NOWAIT_MAX_BYTES = 128 * 1024;
/**
 * The same for reads in single-client tools (`x-sync-reads`): a cached read of
 * a convert chunk (2 MiB) is copied on the JS thread. On 2 CPUs a pool thread
 * woken for each read took the CPU from the JS thread just when the previous
 * write finished, and the next write waited; see qemu-img's README.
 */
export const NOWAIT_MAX_READ_SINGLE_CLIENT = 4 << 20;
/**
 * A synchronous write slower than this (ms) may mean the kernel made us wait
 * (dirty-page throttling pauses for 10-200 ms): the event loop was blocked,
 * so the next SYNC_BACKOFF_WRITES writes go through the thread pool before
 * trying again. A cached 4 KiB pwrite takes ~3-6 us; on a loaded machine a
 * preempted one looks slow too, hence a short backoff (a few ms of async
 * writes) rather than a long one: measured under load 5 on 2 CPUs, a
 * 1 ms / 1024-write rule sent a third of the writes back to the pool.
 */
export const SYNC_WRITE_SLOW_MS = 2;
const SYNC_WRITE_SLOW_NS = BigInt(SYNC_WRITE_SLOW_MS * 1e6);
export const SYNC_BACKOFF_WRITES = 64;
/**
 * Buffered writes of at least this size first fallocate(KEEP_SIZE) their own
 * range (see FileDriverState.allocateWrites). Below it the extra syscall costs
 * more than it saves (measured on ext4: 64 KiB writes slower, 256 KiB and up
 * faster).
 */
export const ALLOCATE_WRITE_MIN_BYTES = 256 * 1024;
/** statfs(2) f_type of ext4 (and ext2/3): the file system allocateWrites was measured on. */
const EXT4_SUPER_MAGIC = 0xef53;

/** True on ext2/3/4 (see allocateWrites); false when statfs fails. */
function onExt4(path: string): boolean {
  try {
    return statfsSync(path).type === EXT4_SUPER_MAGIC;
  } catch {
    return false;
  }
}

export class FileDriverState implements BlockDriverState {
  readonly requestAlignment: number;
  readonly supportsFua = false;
  readonly stats: FileIoStats = {
    reads: 0, writes: 0, datasyncs: 0, nowaitReads: 0, nowaitWrites: 0, readFallbacks: 0, writeFallbacks: 0, syncWrites: 0, slowSyncWrites: 0,
    mappedReads: 0, allocatedWrites: 0,
  };
  /** Set by the `x-no-fallocate=on` option: test the portable paths on a machine that has the addon. */
  noFallocate = false;
  /**
   * Try RWF_NOWAIT first. Reads: whenever the page cache is used (not O_DIRECT).
   * Writes: only plain buffered files (not O_DSYNC, whose writes must reach the
   * disk). Each turns itself off for good when the file system answers
   * EOPNOTSUPP (ext4 and tmpfs for buffered writes, tmpfs for reads).
   * `x-no-nowait=on` turns both off.
   */
  nowaitRead: boolean;
  nowaitWrite: boolean;
  /** Largest read tried with RWF_NOWAIT: NOWAIT_MAX_BYTES, or NOWAIT_MAX_READ_SINGLE_CLIENT (`x-sync-reads`). */
  nowaitReadMax = NOWAIT_MAX_BYTES;
  /**
   * Small buffered writes (<= NOWAIT_MAX_BYTES, one buffer) with a plain
   * synchronous pwrite when RWF_NOWAIT is refused (ext4, tmpfs): ~4 us instead
   * of a ~17 us thread-pool round trip. It blocks the event loop while the
   * kernel copies into the page cache, so it is only on for single-client tools
   * (OpenSpec.singleClient, or the file option `x-sync-writes=on|off`), and
   * it backs off for SYNC_BACKOFF_WRITES writes after one slower than
   * SYNC_WRITE_SLOW_MS. The data path is the same pwrite(2) either way, so
   * durability does not change: FUA and flushes still fdatasync, and O_DSYNC
   * and O_DIRECT files never take it.
   */
  syncWrites = false;
  private syncBackoff = 0;
  /**
   * mapForRead may hand out page-cache views: opt-in with the file option
   * `x-mmap=on`, single-client tools only (a mapped page that a truncation
   * removes raises SIGBUS), page cache in use, addon with mapRead. Off by
   * default: for qemu-img convert it saved ~5% CPU but no wall time on a
   * quiet machine (see qemu-img's README), not enough for the SIGBUS risk.
   */
  mapReads = false;
  /**
   * Large buffered writes allocate their range first (fallocate with
   * FALLOC_FL_KEEP_SIZE, which allocates exactly the blocks the write is about
   * to fill and changes nothing else): on ext4 a page-cache write into
   * allocated (unwritten) extents skips delayed allocation's per-page block
   * reservation, ~30% less kernel time for a convert's 2 MiB writes into a
   * fresh file. Only on ext4, where that was measured (on tmpfs, fallocate
   * zeroes pages the write then fills: 5-10% slower). Only a hint: the first
   * failure turns it off for good. `x-no-fallocate=on` turns it off.
   */
  allocateWrites: boolean;
  /** Image locking is on for this open (`locking=auto|on` and a host with OFD locks). */
  locking = false;
  /** The permissions whose lock bytes this fd holds (see file-lock.ts), or null. */
  private held: PermRequest | null = null;

  constructor(
    readonly path: string,
    private readonly fh: FdFile,
    readonly hostCacheBypass: HostCacheBypass,
    private readonly bounce: AlignedBouncePool | undefined,
    blockSize: number,
  ) {
    this.requestAlignment = blockSize;
    this.nowaitRead = hostIo.nowait && bounce === undefined;
    this.nowaitWrite = hostIo.nowait && hostCacheBypass === 'none';
    this.allocateWrites = hostIo.available && hostCacheBypass === 'none' && bounce === undefined && onExt4(path);
  }

  /**
   * fstat(2) on a regular file answers from the inode without I/O, so it is
   * done synchronously: block status asks for the length on every call, and a
   * thread-pool round trip each time was half the cost of a sparse NBD read.
   */
  async getLength(): Promise<number> {
    try {
      return fstatSync(this.fh.fd).size;
    } catch (err) {
      throw fromNodeError(err);
    }
  }

  preadv(offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    this.stats.reads++;
    if (this.bounce) return this.preadvBounced(offset, length, iov);
    if (this.nowaitRead && length <= this.nowaitReadMax) {
      // fh.fd is -1 once closed: EBADF, and the async path below reports the error properly.
      const n = iov.length === 1 ? hostIo.preadNowait(this.fh.fd, iov[0]!, offset, length)
        : iov.length <= NOWAIT_IOV_MAX ? hostIo.preadvNowait(this.fh.fd, iov, offset) : NOWAIT_EINVAL;
      if (n === length) {
        this.stats.nowaitReads++;
        return DONE;
      }
      this.stats.readFallbacks++;
      if (n === NOWAIT_EOPNOTSUPP || n === NOWAIT_ENOSYS) this.nowaitRead = false;
      // A prefix came from the cache (or EOF): read or zero-fill the rest asynchronously.
      if (n > 0) return this.readRest(offset, length, iov, n);
    }
    if (iov.length === 1) return FsRequest.start(this, 'read', offset, length, iov);
    return this.preadvVector(offset, length, iov);
  }

  private async readRest(offset: number, length: number, iov: Uint8Array[], done: number): Promise<void> {
    this.inFlight++;
    try {
      await this.finishShortRead(offset, length, iov, done);
    } catch (err) {
      throw fromNodeError(err);
    } finally {
      this.requestDone();
    }
  }

  private async preadvVector(offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    this.inFlight++;
    try {
      const { bytesRead } = await this.fh.readv(iov, offset);
      if (bytesRead < length) await this.finishShortRead(offset, length, iov, bytesRead);
    } catch (err) {
      throw fromNodeError(err);
    } finally {
      this.requestDone();
    }
  }

  /**
   * A read-only view of [offset, offset+length) straight over the page cache
   * (see mapReads), or undefined: mapping off (the default), range past the file's current
   * end, a page not cached (the caller reads instead, on the thread pool, so
   * this thread never waits for the disk). The caller owns the view and
   * gives it back with unmapView once nothing uses it any more. (Keeping
   * 64 MiB windows mapped across views, to save the unmap per view, measured
   * slower: 0.54-0.68 vs 0.47-0.51 s CPU for a 1 GiB convert.)
   */
  mapForRead(offset: number, length: number): Uint8Array | undefined {
    if (!this.mapReads || length <= 0) return undefined;
    const start = offset - (offset % hostIo.pageSize);
    const r = hostIo.mapRead(this.fh.fd, start, offset + length - start, true);
    if (typeof r === 'number') {
      // Not a regular file, no addon support, a closed fd: no point in asking again.
      if (r !== MAP_EAGAIN && r !== MAP_ERANGE) this.mapReads = false;
      return undefined;
    }
    this.stats.mappedReads++;
    return new Uint8Array(r, offset - start, length);
  }

  setPermissions(req: PermRequest): void {
    if (!this.locking) return;
    relock(this.fh.fd, this.held, req, this.path);
    this.held = req;
  }

  allowWriters(): void {
    if (this.held) this.setPermissions({ perm: this.held.perm, deny: 0 });
  }

  /** Unmaps a view from mapForRead (it reads as empty afterwards). */
  unmapView(view: Uint8Array): void {
    hostIo.unmap(view.buffer as ArrayBuffer);
  }

  /** The raw fd, for FsRequest (fs.read/fs.write with callbacks on the FdFile's descriptor). */
  get fd(): number {
    return this.fh.fd;
  }

  /** Requests issued on the raw fd; close() waits for them, as FdFile does for its own. */
  inFlight = 0;
  private drained: (() => void) | null = null;

  requestDone(): void {
    if (--this.inFlight === 0 && this.drained) this.drained();
  }

  /** A short read is EOF (zero-fill the rest, as QEMU does) or, rarely, a partial transfer to retry. */
  async finishShortRead(offset: number, length: number, iov: Uint8Array[], done: number): Promise<void> {
    while (done < length) {
      const rest = sliceIov(iov, done, length - done);
      const { bytesRead } = await this.fh.readv(rest, offset + done);
      if (bytesRead === 0) {
        zeroIov(iov, done, length);
        return;
      }
      done += bytesRead;
    }
  }

  private async preadvBounced(offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    const buf = await this.bounce!.acquire();
    try {
      for (let pos = 0; pos < length; pos += BOUNCE_CHUNK) {
        const n = Math.min(BOUNCE_CHUNK, length - pos);
        // A short O_DIRECT read of a regular file means EOF; retrying at the unaligned end would be EINVAL.
        const { bytesRead } = await this.fh.read(buf, 0, n, offset + pos);
        if (bytesRead < n) buf.fill(0, bytesRead, n);
        copyToIov(buf, 0, n === length ? iov : sliceIov(iov, pos, n));
      }
    } catch (err) {
      throw fromNodeError(err);
    } finally {
      this.bounce!.release(buf);
    }
  }

  pwritev(offset: number, length: number, iov: Uint8Array[], _flags: WriteFlags): Promise<void> {
    this.stats.writes++;
    if (this.bounce) return this.pwritevBounced(offset, length, iov).catch((err: unknown) => { throw fromNodeError(err); });
    if (this.nowaitWrite && length <= NOWAIT_MAX_BYTES) {
      const n = iov.length === 1 ? hostIo.pwriteNowait(this.fh.fd, iov[0]!, offset, length)
        : iov.length <= NOWAIT_IOV_MAX ? hostIo.pwritevNowait(this.fh.fd, iov, offset) : NOWAIT_EINVAL;
      if (n === length) {
        this.stats.nowaitWrites++;
        return DONE;
      }
      this.stats.writeFallbacks++;
      if (n === NOWAIT_EOPNOTSUPP || n === NOWAIT_ENOSYS) this.nowaitWrite = false;
      // Part went into the page cache: the vectored path writes the rest.
      if (n > 0) return this.pwritevVector(offset, length, iov, n);
    }
    // Not after an RWF_NOWAIT EAGAIN (this write would block): only where the file system refused RWF_NOWAIT.
    if (this.syncWrites && !this.nowaitWrite && iov.length === 1 && length <= NOWAIT_MAX_BYTES) {
      if (this.syncBackoff === 0) return this.pwriteSync(offset, length, iov);
      this.syncBackoff--;
    }
    if (this.allocateWrites && length >= ALLOCATE_WRITE_MIN_BYTES) this.allocateRange(offset, length);
    if (iov.length === 1) return FsRequest.start(this, 'write', offset, length, iov);
    return this.pwritevVector(offset, length, iov, 0);
  }

  /** See allocateWrites. */
  private allocateRange(offset: number, length: number): void {
    try {
      hostIo.fallocate(this.fh.fd, FALLOC_FL_KEEP_SIZE, offset, length);
      this.stats.allocatedWrites++;
    } catch {
      this.allocateWrites = false;
    }
  }

  /** One synchronous pwrite (see syncWrites); a short write finishes on the vectored path. */
  private pwriteSync(offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    // process.hrtime, not performance.now(): loading perf_hooks costs each run ~1 ms.
    const start = process.hrtime.bigint();
    let n: number;
    try {
      n = writeSync(this.fh.fd, iov[0]!, 0, length, offset);
    } catch (err) {
      return Promise.reject(fromNodeError(err));
    }
    this.stats.syncWrites++;
    if (process.hrtime.bigint() - start > SYNC_WRITE_SLOW_NS) {
      this.stats.slowSyncWrites++;
      this.syncBackoff = SYNC_BACKOFF_WRITES;
    }
    return n === length ? DONE : this.pwritevVector(offset, length, iov, n);
  }

  /** writev, then the rest of a short write (`done` bytes already written) until all is written. */
  async pwritevVector(offset: number, length: number, iov: Uint8Array[], done: number): Promise<void> {
    this.inFlight++;
    try {
      let bytesWritten = done;
      if (bytesWritten === 0) bytesWritten = (await this.fh.writev(iov, offset)).bytesWritten;
      while (bytesWritten < length) {
        const more = await this.fh.writev(sliceIov(iov, bytesWritten, length - bytesWritten), offset + bytesWritten);
        if (more.bytesWritten === 0) throw new BlockError('ENOSPC');
        bytesWritten += more.bytesWritten;
      }
    } catch (err) {
      throw fromNodeError(err);
    } finally {
      this.requestDone();
    }
  }

  private async pwritevBounced(offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    const buf = await this.bounce!.acquire();
    try {
      for (let pos = 0; pos < length; pos += BOUNCE_CHUNK) {
        const n = Math.min(BOUNCE_CHUNK, length - pos);
        copyFromIov(n === length ? iov : sliceIov(iov, pos, n), buf, 0);
        let done = 0;
        while (done < n) {
          const { bytesWritten } = await this.fh.write(buf, done, n - done, offset + pos + done);
          if (bytesWritten === 0) throw new BlockError('ENOSPC');
          done += bytesWritten;
        }
      }
    } finally {
      this.bounce!.release(buf);
    }
  }

  /** fallocate(2) through @tsemu/host-io; false when the addon or the file system can't (caller falls back). */
  private tryFallocate(mode: number, offset: number, length: number): boolean {
    if (!hostIo.available || this.noFallocate) return false;
    try {
      hostIo.fallocate(this.fh.fd, mode, offset, length);
      return true;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENOTSUP' || code === 'ENOSYS') return false;
      throw fromNodeError(err);
    }
  }

  /**
   * Zeroes without writing: a punched hole when the range may be unmapped,
   * else FALLOC_FL_ZERO_RANGE. Without the native addon only the cheap cases
   * work (past EOF: grow sparsely; a tail with mayUnmap: cut and regrow);
   * anything else is ENOTSUP and the generic layer writes zero buffers.
   */
  async pwriteZeroes(offset: number, length: number, flags: ZeroFlags): Promise<void> {
    // ZERO_RANGE first, past EOF too (the file grows with the range allocated), as QEMU does.
    if (!flags.mayUnmap && this.tryFallocate(FALLOC_FL_ZERO_RANGE, offset, length)) return;
    const size = await this.getLength();
    const end = offset + length;
    if (offset >= size) {
      // Growing by ftruncate races with writes past it in flight (it could cut
      // them off): only for callers that accept a slow path, never for
      // noFallback ones (qcow2 zeroing the clusters it allocates).
      if (flags.noFallback) throw new BlockError('ENOTSUP');
      if (end > size) await this.resize(end);
      return;
    }
    if (flags.mayUnmap) {
      if (end > size) await this.resize(end);
      if (this.tryFallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length)) return;
    }
    if (flags.mayUnmap && end >= size && offset % this.requestAlignment === 0) {
      await this.resize(offset);
      await this.resize(end);
      return;
    }
    throw new BlockError('ENOTSUP');
  }

  /** Punches a hole (native addon), or at the tail by truncating; elsewhere writes zeroes so reads still see zeroes. */
  async pdiscard(offset: number, length: number): Promise<void> {
    const size = await this.getLength();
    if (offset >= size) return;
    const end = Math.min(offset + length, size);
    if (this.tryFallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, end - offset)) return;
    if (offset + length >= size) {
      await this.resize(offset);
      await this.resize(size);
      return;
    }
    const zero = sharedZeroes();
    for (let pos = offset; pos < end; pos += zero.byteLength) {
      const n = Math.min(zero.byteLength, end - pos);
      await this.pwritev(pos, n, [zero.subarray(0, n)], {});
    }
  }

  /**
   * SEEK_DATA / SEEK_HOLE stop at EOF, so only a hole running to EOF needs
   * the file size: no fstat (and fs.Stats with its four Dates) per call while
   * convert maps a large source extent by extent. Anything else (past EOF,
   * an error, no addon) is left to blockStatus(): undefined.
   */
  blockStatusNow(offset: number, length: number): BlockStatus | undefined {
    const fd = this.fh.fd;
    if (!hostIo.available || length <= 0 || fd < 0) return undefined;
    const data = hostIo.seekData(fd, offset);
    if (data === offset) {
      const hole = hostIo.seekHole(fd, offset);
      if (hole > offset) return { length: Math.min(length, hole - offset), data: true, zero: false, allocated: true, offset };
    } else if (data > offset) {
      return { length: Math.min(length, data - offset), data: false, zero: true, allocated: true, offset };
    }
    return undefined;
  }

  /**
   * Data vs hole from SEEK_DATA/SEEK_HOLE (native addon): holes read as zeroes
   * and are reported as such, as QEMU's file-posix does. Without the addon the
   * whole file is data.
   */
  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    const fd = this.fh.fd;
    const now = this.blockStatusNow(offset, length);
    if (now !== undefined) return now;
    const size = await this.getLength();
    if (offset >= size) return { length: 0, data: false, zero: true, allocated: false };
    const n = Math.min(length, size - offset);
    if (!hostIo.available) return { length: n, data: true, zero: false, allocated: true, offset };
    const data = hostIo.seekData(fd, offset);
    if (data === offset) {
      const hole = hostIo.seekHole(fd, offset);
      return { length: Math.min(n, (hole < 0 ? size : hole) - offset), data: true, zero: false, allocated: true, offset };
    }
    // In a hole: it runs to the next data, or to EOF when there is none.
    return { length: Math.min(n, (data < 0 ? size : data) - offset), data: false, zero: true, allocated: true, offset };
  }

  async flush(): Promise<void> {
    try {
      await this.fh.datasync();
    } catch (err) {
      throw fromNodeError(err);
    }
    this.stats.datasyncs++;
  }

  private async resize(size: number): Promise<void> {
    try {
      await this.fh.truncate(size);
    } catch (err) {
      throw fromNodeError(err);
    }
  }

  async truncate(size: number, _exact: boolean, prealloc: Preallocation): Promise<void> {
    // A plain file has no metadata to preallocate; refused before anything changes, as QEMU does.
    if (prealloc === 'metadata') throw new BlockError('ENOTSUP', 'Unsupported preallocation mode: metadata');
    const old = await this.getLength();
    await this.resize(size);
    if (size <= old) return;
    // falloc reserves blocks (native addon); full, or falloc without the addon, writes zeroes.
    if (prealloc === 'falloc' && this.tryFallocate(0, old, size - old)) return;
    if (prealloc === 'full' || prealloc === 'falloc') await writeZeroRange(this, old, size - old);
  }

  async allocatedFileSize(): Promise<number> {
    return (await this.fh.stat()).blocks * 512;
  }

  setCacheFlags(_flags: CacheFlags): void {
    // O_DIRECT cannot be toggled on an open fd from Node; a change applies at the next open.
  }

  async close(): Promise<void> {
    if (this.inFlight > 0) await new Promise<void>((resolve) => { this.drained = resolve; });
    this.drained = null;
    await this.fh.close();
  }
}

/**
 * One single-buffer read or write on the raw fd through fs.read/fs.write with
 * a callback: FdFile.read/write cost a promise and a
 * result object each, and this is the hot path of every small I/O. Still the
 * libuv thread pool (real async I/O, like QEMU's aio=threads). The executor and
 * callback are bound once per pooled object, so a request allocates only its
 * promise.
 */
const NO_IOV: Uint8Array[] = [];

class FsRequest {
  private static readonly free: FsRequest[] = [];

  private state: FileDriverState | null = null;
  private offset = 0;
  private length = 0;
  private iov: Uint8Array[] = NO_IOV;
  private resolve: (() => void) | null = null;
  private reject: ((err: unknown) => void) | null = null;
  private readonly executor = (resolve: () => void, reject: (err: unknown) => void): void => {
    this.resolve = resolve;
    this.reject = reject;
  };

  static start(state: FileDriverState, op: 'read' | 'write', offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    const req = FsRequest.free.pop() ?? new FsRequest();
    req.state = state;
    req.offset = offset;
    req.length = length;
    req.iov = iov;
    const promise = new Promise<void>(req.executor);
    state.inFlight++;
    try {
      if (op === 'read') fsRead(state.fd, iov[0]!, 0, length, offset, req.readDone);
      else fsWrite(state.fd, iov[0]!, 0, length, offset, req.writeDone);
    } catch (err) {
      // Argument validation throws synchronously (e.g. a closed handle's fd is -1).
      req.finish(fromNodeError(err));
    }
    return promise;
  }

  private readonly readDone = (err: NodeJS.ErrnoException | null, bytesRead: number): void => {
    if (err) return this.finish(fromNodeError(err));
    if (bytesRead >= this.length) return this.finish(null);
    // Short read (EOF, or rarely a partial transfer): the slow path completes it.
    const state = this.state!;
    const resolve = this.resolve!;
    const reject = this.reject!;
    const done = state.finishShortRead(this.offset, this.length, this.iov, bytesRead);
    this.recycle();
    done.then(resolve, (e: unknown) => reject(fromNodeError(e))).finally(() => state.requestDone());
  };

  private readonly writeDone = (err: NodeJS.ErrnoException | null, bytesWritten: number): void => {
    if (err) return this.finish(fromNodeError(err));
    if (bytesWritten >= this.length) return this.finish(null);
    // Short write (rare): the vectored path writes the rest (and counts itself in flight).
    const done = this.state!.pwritevVector(this.offset, this.length, this.iov, bytesWritten);
    this.finishWith(done);
  };

  private finish(err: BlockError | null): void {
    const state = this.state!;
    const resolve = this.resolve!;
    const reject = this.reject!;
    this.recycle();
    state.requestDone();
    if (err) reject(err);
    else resolve();
  }

  private finishWith(done: Promise<void>): void {
    const state = this.state!;
    const resolve = this.resolve!;
    const reject = this.reject!;
    this.recycle();
    state.requestDone();
    done.then(resolve, reject);
  }

  private recycle(): void {
    this.state = null;
    this.iov = NO_IOV;
    this.resolve = null;
    this.reject = null;
    if (FsRequest.free.length < 64) FsRequest.free.push(this);
  }
}

async function writeZeroRange(state: FileDriverState, offset: number, length: number): Promise<void> {
  const zero = sharedZeroes();
  const a = state.requestAlignment;
  for (let pos = 0; pos < length; pos += zero.byteLength) {
    let n = Math.min(zero.byteLength, length - pos);
    if (a > 1 && n % a !== 0) n += a - (n % a);
    await state.pwritev(offset + pos, n, [zero.subarray(0, n)], {});
  }
}

/** file-posix's aio= values (io_uring and native are accepted; requests go through the thread pool either way). */
const AIO_MODES = new Set(['threads', 'native', 'io_uring']);

/** The `locking` option (QEMU's OnOffAuto): auto and on lock, off does not. */
function parseLocking(value: string | undefined): boolean {
  if (value === undefined || value === 'auto' || value === 'on') return true;
  if (value === 'off') return false;
  throw new BlockError('EINVAL', `invalid parameter value: ${value}`);
}

/** `Could not open 'x': No such file or directory`, as QEMU's file-posix says it. */
function openError(path: string, err: unknown): BlockError {
  return fromNodeError(err, (text) => `Could not open '${path}': ${text}`);
}

async function openFile(path: string, readOnly: boolean, cache: CacheFlags, refuseDirect: boolean): Promise<FileDriverState> {
  const base = readOnly ? constants.O_RDONLY : constants.O_RDWR;
  if (cache.direct && refuseDirect) return openDsyncFallback(path, base);
  if (!cache.direct) {
    const fh = await FdFile.open(path, base).catch((err) => { throw openError(path, err); });
    return new FileDriverState(path, fh, 'none', undefined, 1);
  }
  let fh: FdFile;
  try {
    fh = await FdFile.open(path, base | constants.O_DIRECT);
  } catch (err) {
    if ((err as { code?: string }).code !== 'EINVAL') throw openError(path, err);
    return openDsyncFallback(path, base);
  }
  const size = (await fh.stat()).size;
  const geometry = probeDirectGeometryFor(path, fh.fd, size);
  if (!geometry) {
    await fh.close();
    return openDsyncFallback(path, base);
  }
  return new FileDriverState(path, fh, 'O_DIRECT', new AlignedBouncePool(geometry), geometry.blockSize);
}

async function openDsyncFallback(path: string, base: number): Promise<FileDriverState> {
  const fh = await FdFile.open(path, base | constants.O_DSYNC).catch((err) => { throw openError(path, err); });
  return new FileDriverState(path, fh, 'O_DSYNC', undefined, 1);
}

export const fileDriver: BlockDriver = {
  name: 'file',
  kind: 'protocol',
  protocols: ['file'],
  strongOptions: ['filename'],
  // x-no-odirect=on: behave as if the filesystem refused O_DIRECT (tests the O_DSYNC fallback anywhere).
  // x-no-fallocate=on: act as if the host-io addon were missing (tests the portable paths).
  // x-no-nowait=on: never try RWF_NOWAIT (tests and before/after measurements of the async path).
  // x-sync-writes=on|off: small buffered writes synchronously (default: OpenSpec.singleClient).
  // x-sync-reads=on|off: cached reads up to 4 MiB with RWF_NOWAIT, not 128 KiB (default: OpenSpec.singleClient).
  // x-mmap=on: mapForRead may map (single-client tools only; see FileDriverState.mapReads).
  openOptions: [
    'filename', 'aio', 'aio-max-batch', 'locking', 'pr-manager', 'drop-cache', 'x-check-cache-dropped', 'x-no-odirect', 'x-no-fallocate', 'x-no-nowait',
    'x-sync-writes', 'x-sync-reads', 'x-mmap',
  ],
  parseFilename(filename: string) {
    return { filename: filename.startsWith('file:') ? filename.slice(5) : filename };
  },
  async open(ctx: OpenContext): Promise<BlockDriverState> {
    const path = ctx.options.filename;
    if (path === undefined || path === '') throw new BlockError('EINVAL', "The 'file' block driver requires a file name");
    // QEMU's file-posix reads its options before it opens the file: typed values, then aio, locking, pr-manager.
    const o = ctx.options;
    parseBool('drop-cache', o['drop-cache'], true);
    parseBool('x-check-cache-dropped', o['x-check-cache-dropped'], false);
    const noFallocate = parseBool('x-no-fallocate', o['x-no-fallocate'], false);
    const noNowait = parseBool('x-no-nowait', o['x-no-nowait'], false);
    const noDirect = parseBool('x-no-odirect', o['x-no-odirect'], false);
    const syncWrites = parseBool('x-sync-writes', o['x-sync-writes'], ctx.singleClient === true);
    const syncReads = parseBool('x-sync-reads', o['x-sync-reads'], ctx.singleClient === true);
    const mmap = parseBool('x-mmap', o['x-mmap'], false);
    const batch = o['aio-max-batch'];
    if (batch !== undefined && typeof parseCNumber(batch) !== 'bigint') throw new BlockError('EINVAL', "Parameter 'aio-max-batch' expects a number");
    const aio = o.aio;
    if (aio !== undefined && !AIO_MODES.has(aio)) throw new BlockError('EINVAL', `invalid parameter value: ${aio}`);
    const locking = parseLocking(o.locking);
    // No pr-manager object can exist here (--object pr-manager-helper is not supported).
    const prManager = o['pr-manager'];
    if (prManager !== undefined) throw new BlockError('EINVAL', `No persistent reservation manager with id '${prManager}'`);
    const st = await statPath(path).catch((err) => { throw openError(path, err); });
    if (st.isDirectory()) throw new BlockError('EISDIR', `Could not open '${path}': Is a directory`);
    const state = await openFile(path, ctx.readOnly, ctx.cache, noDirect);
    // Linux AIO only works with O_DIRECT; QEMU refuses the combination once the file is open.
    if (aio === 'native' && !ctx.cache.direct) {
      await state.close();
      throw new BlockError('EINVAL', 'aio=native was specified, but it requires cache.direct=on, which was not specified.');
    }
    state.noFallocate = noFallocate;
    if (noFallocate) state.allocateWrites = false;
    if (noNowait) state.nowaitRead = state.nowaitWrite = false;
    state.syncWrites = state.hostCacheBypass === 'none' && syncWrites;
    if (syncReads) state.nowaitReadMax = NOWAIT_MAX_READ_SINGLE_CLIENT;
    state.mapReads = state.hostCacheBypass === 'none' && ctx.singleClient === true && hostIo.mmap && mmap;
    try {
      state.locking = imageLocking && locking;
      if (ctx.perm) state.setPermissions(ctx.perm);
    } catch (err) {
      await state.close();
      throw err;
    }
    return state;
  },
  createOptions: [
    { name: 'size', type: 'size', help: 'Virtual disk size' },
    // nocow and extent_size_hint: accepted and checked as QEMU does, not applied (they need btrfs / XFS
    // ioctls; on ext4 QEMU's have no effect either). In file-posix's order, which the Formatting line follows.
    { name: 'nocow', type: 'bool', help: 'Turn off copy-on-write (valid only on btrfs)' },
    { name: 'preallocation', type: 'string', help: 'Preallocation mode (allowed values: off, falloc, full)' },
    { name: 'extent_size_hint', type: 'size', help: 'Extent size hint for the image file, 0 to disable' },
  ],
  async create(ctx: CreateContext): Promise<void> {
    const prealloc = ctx.options.preallocation ?? 'off';
    if (!['off', 'metadata', 'falloc', 'full'].includes(prealloc)) {
      throw new BlockError('EINVAL', `invalid parameter value: ${prealloc}`); // qemu-img 7.2's words for the file driver
    }
    // Checked before the file exists, as qemu-img does (the hint is a 32-bit field of the ioctl).
    const hint = ctx.options.extent_size_hint;
    if (hint !== undefined && parseSizeOption('extent_size_hint', hint, 0) > 0xffffffff) {
      throw new BlockError('EINVAL', 'Extent size hint is too large');
    }
    let fh: FdFile;
    try {
      // Truncated only once the locks are held: the file may be an image another process (or this one) has open.
      fh = await FdFile.open(ctx.filename, constants.O_RDWR | constants.O_CREAT, 0o644);
    } catch (err) {
      throw openError(ctx.filename, err);
    }
    try {
      if (imageLocking) relock(fh.fd, null, CREATE_REQUEST, ctx.filename);
      await fh.truncate(0);
    } catch (err) {
      await fh.close();
      throw err instanceof BlockError ? err : fromNodeError(err);
    }
    if (prealloc === 'metadata') {
      // A mode QEMU knows but a plain file has no metadata for: qemu-img leaves the file created, empty.
      await fh.close();
      throw new BlockError('ENOTSUP', 'Unsupported preallocation mode: metadata');
    }
    const state = new FileDriverState(ctx.filename, fh, 'none', undefined, 1);
    // QEMU creates whole sectors, and writes the first block so that the
    // file system has decided the file's block size (O_DIRECT probing relies on it).
    const size = ctx.size % 512 === 0 ? ctx.size : ctx.size + 512 - (ctx.size % 512);
    try {
      await state.truncate(size, true, prealloc as Preallocation);
      if (prealloc === 'off' && size > 0) await state.pwritev(0, Math.min(size, 4096), [sharedZeroes().subarray(0, Math.min(size, 4096))], {});
    } finally {
      await state.close();
    }
  },
};
