// BlockNode: one node of the graph (QEMU's BlockDriverState) and the generic
// request layer every driver sits behind. Drivers see only aligned requests;
// this class does padding/read-modify-write, write serialisation, read-only
// checks, zero detection, write-zeroes fallback, FUA emulation, discard mode,
// backing-file reads and flushing down the graph.
import type { CacheFlags } from './cache.js';
import type {
  BlockDriver, BlockDriverState, BlockOptions, BlockStatus, DriverInfo, Preallocation, WriteFlags, ZeroFlags,
} from './driver.js';
import { BlockError } from './errors.js';
import { checkRequest, copyFromIov, copyToIov, iovLength, sharedZeroes, sliceIov, zeroIov } from './iov.js';
import { RequestTracker } from './request-tracker.js';
import { isAllZero } from './util/index.js';

export type DetectZeroes = 'off' | 'on' | 'unmap';

const NO_FLAGS: WriteFlags = Object.freeze({});
const DONE: Promise<void> = Promise.resolve();
/** Copy-on-read copies at most this much per step (QEMU's MAX_BOUNCE_BUFFER). */
const COPY_ON_READ_BOUNCE = 16 * 1024 * 1024;

export interface BlockNodeInit {
  driver: BlockDriver;
  filename: string;
  options: BlockOptions;
  readOnly: boolean;
  cache: CacheFlags;
  /** discard=unmap: discards and may-unmap zeroes pass down; otherwise discard is a no-op. */
  unmap: boolean;
  detectZeroes: DetectZeroes;
}

function roundUp(n: number, a: number): number {
  const r = n % a;
  return r === 0 ? n : n + a - r;
}

export class BlockNode {
  readonly driver: BlockDriver;
  /** What the user named this node by (a path, a URI); drivers may normalise it. */
  filename: string;
  readonly options: BlockOptions;
  readonly readOnly: boolean;
  cache: CacheFlags;
  readonly unmap: boolean;
  readonly detectZeroes: DetectZeroes;
  /** The format was guessed by probing (raw then guards sector 0). */
  probed = false;
  /** Children by role: 'file', 'backing', 'image' (blkdebug)... */
  readonly children = new Map<string, BlockNode>();
  /** Backing file name and format as recorded in the image (set by format drivers, even with noBacking). */
  backingFile?: string;
  backingFormat?: string;
  /**
   * QEMU's copy-on-read (qemu-io -C; enableCopyOnRead() on a writable top
   * node): a read of clusters this node does not allocate itself reads them
   * whole (through the backing chain) and writes them into this node, as
   * zeroes where they read as zeroes. The unit reads widen to (0: off).
   */
  private copyOnReadUnit = 0;

  private driverState: BlockDriverState | null = null;
  private align = 1;
  private tracker: RequestTracker | null = null;
  private closed = false;

  constructor(init: BlockNodeInit) {
    this.driver = init.driver;
    this.filename = init.filename;
    this.options = init.options;
    this.readOnly = init.readOnly;
    this.cache = { ...init.cache };
    this.unmap = init.unmap;
    this.detectZeroes = init.detectZeroes;
  }

  /** Called once by the opener with what driver.open returned. */
  attach(state: BlockDriverState): void {
    this.driverState = state;
    this.align = Math.max(1, state.requestAlignment | 0);
    // Alignment 1 without serialiseWrites can never need RMW: skip tracking entirely.
    this.tracker = this.align > 1 || state.serialiseWrites ? new RequestTracker() : null;
  }

  get state(): BlockDriverState {
    if (!this.driverState) throw new BlockError('ENOMEDIUM', 'Block node is not open');
    return this.driverState;
  }

  get file(): BlockNode | undefined {
    return this.children.get('file');
  }

  get backing(): BlockNode | undefined {
    return this.children.get('backing');
  }

  get requestAlignment(): number {
    return this.align;
  }

  /**
   * Length in whole 512-byte sectors, as QEMU's bdrv_getlength: a 100-byte
   * file is a 512-byte disk whose tail reads as zeroes (drivers zero-fill past EOF).
   */
  async getLength(): Promise<number> {
    const bytes = await this.state.getLength();
    return bytes % 512 === 0 ? bytes : bytes + 512 - (bytes % 512);
  }

  read(offset: number, buf: Uint8Array): Promise<void> {
    return this.readv(offset, [buf]);
  }

  // The request entry points below are plain functions returning the driver's
  // promise (not async ones wrapping it): every layer of async costs a promise
  // and extra microtask turns per request. Errors still come back as rejections.
  readv(offset: number, iov: Uint8Array[]): Promise<void> {
    try {
      const length = iovLength(iov);
      checkRequest(offset, length);
      if (length === 0) return DONE;
      if (this.copyOnReadUnit !== 0) return this.readCopyOnRead(offset, length, iov);
      return this.readPadded(offset, length, iov);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private readPadded(offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    const a = this.align;
    if (a === 1 || (offset % a === 0 && length % a === 0)) return this.readAligned(offset, length, iov);
    // Pad to whole blocks; the padding lands in scratch buffers.
    const start = offset - (offset % a);
    const end = roundUp(offset + length, a);
    const padded: Uint8Array[] = [];
    if (offset > start) padded.push(new Uint8Array(offset - start));
    for (const buf of iov) padded.push(buf);
    if (end > offset + length) padded.push(new Uint8Array(end - offset - length));
    return this.readAligned(start, end - start, padded);
  }

  private readAligned(offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    const backing = this.children.get('backing');
    const state = this.state;
    if (backing === undefined || state.blockStatus === undefined) return state.preadv(offset, length, iov);
    return this.readThroughBacking(offset, length, iov, backing);
  }

  /** Allocated ranges come from this driver, the rest from the backing node (zeroes past its end). */
  private async readThroughBacking(offset: number, length: number, iov: Uint8Array[], backing: BlockNode): Promise<void> {
    const state = this.state;
    let pos = 0;
    while (pos < length) {
      const st = await state.blockStatus!(offset + pos, length - pos);
      const n = st.length > 0 ? Math.min(st.length, length - pos) : length - pos;
      const part = sliceIov(iov, pos, n);
      if (st.allocated || st.length <= 0) {
        await state.preadv(offset + pos, n, part);
      } else {
        const backingLength = await backing.getLength();
        const fromBacking = Math.max(0, Math.min(n, backingLength - (offset + pos)));
        if (fromBacking > 0) await backing.readv(offset + pos, sliceIov(part, 0, fromBacking));
        if (fromBacking < n) zeroIov(part, fromBacking, n);
      }
      pos += n;
    }
  }

  /**
   * A read under copy-on-read, as QEMU's: the request widened to whole
   * clusters (the request alignment where the driver has none) and cut at
   * the image's end; run by run of this node's own allocation, allocated
   * runs read in place, the others (at most 16 MiB at a time, QEMU's bounce
   * buffer) read through the backing chain and written here, as write-zeroes
   * (no unmap) when all zero, before the caller's part is copied out.
   */
  private async readCopyOnRead(offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    const state = this.state;
    const unit = this.copyOnReadUnit;
    const start = offset - (offset % unit);
    const end = Math.min(roundUp(offset + length, unit), Math.max(offset + length, await this.getLength()));
    for (let pos = start; pos < end;) {
      const st = state.blockStatus ? await state.blockStatus(pos, end - pos) : undefined;
      let n = st !== undefined && st.length > 0 ? Math.min(st.length, end - pos) : end - pos;
      // The caller's part of [pos, pos + n).
      const from = Math.max(pos, offset);
      const to = Math.min(pos + n, offset + length);
      if (st === undefined || st.allocated) {
        if (to > from) await this.readPadded(from, to - from, sliceIov(iov, from - offset, to - from));
      } else {
        n = Math.min(n, COPY_ON_READ_BOUNCE);
        const bounce = new Uint8Array(n);
        await this.readPadded(pos, n, [bounce]);
        if (isAllZero(bounce)) await this.writeZeroesFromBackend(pos, n);
        else await this.writeTracked(pos, n, [bounce], NO_FLAGS, state);
        const copyEnd = Math.min(pos + n, offset + length);
        if (copyEnd > from) copyToIov(bounce.subarray(from - pos, copyEnd - pos), 0, sliceIov(iov, from - offset, copyEnd - from));
      }
      pos += n;
    }
  }

  /** Turns copy-on-read on (an open node): reads widen to the driver's cluster size, else its request alignment. */
  enableCopyOnRead(): void {
    this.copyOnReadUnit = this.info().clusterSize ?? this.align;
  }

  private checkWritable(): void {
    if (this.readOnly) throw new BlockError('EPERM', 'Block node is read-only');
  }

  write(offset: number, buf: Uint8Array, flags?: WriteFlags): Promise<void> {
    return this.writev(offset, [buf], flags);
  }

  writev(offset: number, iov: Uint8Array[], flags: WriteFlags = NO_FLAGS): Promise<void> {
    try {
      this.checkWritable();
      const length = iovLength(iov);
      checkRequest(offset, length);
      if (length === 0) return DONE;
      if (this.detectZeroes !== 'off' && iovIsZero(iov)) {
        return this.writeZeroes(offset, length, { fua: flags.fua, mayUnmap: this.detectZeroes === 'unmap' });
      }
      const state = this.state;
      // Fast path: nothing to serialise and no FUA to emulate.
      if (this.tracker === null && !(flags.fua === true && state.supportsFua !== true)) {
        return state.pwritev(offset, length, iov, flags);
      }
      return this.writeTracked(offset, length, iov, flags, state);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private async writeTracked(offset: number, length: number, iov: Uint8Array[], flags: WriteFlags, state: BlockDriverState): Promise<void> {
    const tracker = this.tracker;
    if (tracker === null) {
      await state.pwritev(offset, length, iov, flags);
    } else {
      const a = this.align;
      const aligned = offset % a === 0 && length % a === 0;
      const start = offset - (offset % a);
      const end = roundUp(offset + length, a);
      const req = await tracker.begin(start, end, !aligned || state.serialiseWrites === true);
      try {
        if (aligned) await state.pwritev(offset, length, iov, flags);
        else await this.readModifyWrite(offset, length, iov, flags);
      } finally {
        tracker.end(req);
      }
    }
    // Emulated FUA: the write is stable only once the graph below is flushed.
    if (flags.fua === true && state.supportsFua !== true) await this.flush();
  }

  /** Caller holds a serialising tracked request covering the padded range. */
  private async readModifyWrite(offset: number, length: number, iov: Uint8Array[], flags: WriteFlags): Promise<void> {
    const a = this.align;
    const start = offset - (offset % a);
    const end = roundUp(offset + length, a);
    const state = this.state;
    if (end - start === a) {
      const block = new Uint8Array(a);
      await this.readAligned(start, a, [block]);
      copyFromIov(iov, block, offset - start);
      return state.pwritev(start, a, [block], flags);
    }
    const parts: Uint8Array[] = [];
    if (offset > start) {
      const head = new Uint8Array(a);
      await this.readAligned(start, a, [head]);
      parts.push(head.subarray(0, offset - start));
    }
    for (const buf of iov) parts.push(buf);
    const tailLen = end - offset - length;
    if (tailLen > 0) {
      const tail = new Uint8Array(a);
      await this.readAligned(end - a, a, [tail]);
      parts.push(tail.subarray(a - tailLen));
    }
    return state.pwritev(start, end - start, parts, flags);
  }

  /**
   * A parent node's write-zeroes request to this node (QEMU's bdrv_co_pwrite_zeroes):
   * without discard=unmap here, nothing may be deallocated (MAY_UNMAP is dropped).
   */
  writeZeroes(offset: number, length: number, flags: ZeroFlags = NO_FLAGS): Promise<void> {
    return this.writeZeroesFromBackend(offset, length, flags.mayUnmap && !this.unmap ? { ...flags, mayUnmap: false } : flags);
  }

  /**
   * A BlockBackend's request to its root node. QEMU's blk layer keeps MAY_UNMAP
   * whatever the root's discard mode: a qcow2 root then frees the clusters and
   * only its passing the discard down to the file depends on discard=unmap
   * (qemu-io -d off `write -z -u` frees qcow2 clusters, as here).
   */
  async writeZeroesFromBackend(offset: number, length: number, zf: ZeroFlags = NO_FLAGS): Promise<void> {
    this.checkWritable();
    checkRequest(offset, length);
    if (length === 0) return;
    const state = this.state;
    const tracker = this.tracker;
    if (tracker === null) {
      await this.zeroesAligned(offset, length, zf);
    } else {
      const a = this.align;
      const end = offset + length;
      const headEnd = Math.min(roundUp(offset, a), end);
      const tailStart = Math.max(end - (end % a), headEnd);
      const aligned = headEnd === offset && tailStart === end;
      const req = await tracker.begin(offset - (offset % a), roundUp(end, a), !aligned || state.serialiseWrites === true);
      try {
        const zero = sharedZeroes();
        if (headEnd > offset) await this.readModifyWrite(offset, headEnd - offset, [zero.subarray(0, headEnd - offset)], zf);
        if (tailStart > headEnd) await this.zeroesAligned(headEnd, tailStart - headEnd, zf);
        if (end > tailStart) await this.readModifyWrite(tailStart, end - tailStart, [zero.subarray(0, end - tailStart)], zf);
      } finally {
        tracker.end(req);
      }
    }
    if (zf.fua === true && state.supportsFua !== true) await this.flush();
  }

  /** Driver's write-zeroes, or (absent / ENOTSUP) plain writes of a shared zero buffer. */
  private async zeroesAligned(offset: number, length: number, flags: ZeroFlags): Promise<void> {
    const state = this.state;
    if (state.pwriteZeroes) {
      try {
        return await state.pwriteZeroes(offset, length, flags);
      } catch (err) {
        if (!(err instanceof BlockError && err.code === 'ENOTSUP')) throw err;
      }
    }
    if (flags.noFallback) throw new BlockError('ENOTSUP');
    const zero = sharedZeroes();
    for (let pos = 0; pos < length; pos += zero.byteLength) {
      const n = Math.min(zero.byteLength, length - pos);
      await state.pwritev(offset + pos, n, [n === zero.byteLength ? zero : zero.subarray(0, n)], flags);
    }
  }

  /** Discard (only with discard=unmap; otherwise a successful no-op). Unaligned edges are dropped. */
  async discard(offset: number, length: number): Promise<void> {
    this.checkWritable();
    checkRequest(offset, length);
    const state = this.state;
    if (!this.unmap || length === 0 || state.pdiscard === undefined) return;
    const a = this.align;
    const start = roundUp(offset, a);
    const end = offset + length - ((offset + length) % a);
    if (end <= start) return;
    const tracker = this.tracker;
    if (tracker === null) return state.pdiscard(start, end - start);
    const req = await tracker.begin(start, end, state.serialiseWrites === true);
    try {
      await state.pdiscard(start, end - start);
    } finally {
      tracker.end(req);
    }
  }

  /**
   * This node's own flush, then every child's. A protocol node under
   * cache.no-flush (cache=unsafe) skips its sync; format drivers still write
   * back their metadata (QEMU's flush_to_os vs flush_to_disk).
   */
  async flush(): Promise<void> {
    if (this.closed) return;
    const state = this.state;
    if (state.flush !== undefined && !this.readOnly && !(this.cache.noFlush && this.driver.kind === 'protocol')) {
      await state.flush();
    }
    for (const child of this.children.values()) await child.flush();
  }

  /** blockStatus() when the driver can answer without waiting (see BlockDriverState.blockStatusNow), else undefined. */
  blockStatusNow(offset: number, length: number): BlockStatus | undefined {
    checkRequest(offset, length);
    return this.state.blockStatusNow?.(offset, length);
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    checkRequest(offset, length);
    const state = this.state;
    if (state.blockStatus) return state.blockStatus(offset, length);
    const size = await state.getLength();
    if (offset >= size) return { length: 0, data: false, zero: true, allocated: false };
    const isProtocol = this.driver.kind === 'protocol';
    return {
      length: Math.min(length, size - offset),
      data: true,
      zero: false,
      allocated: true,
      offset: isProtocol ? offset : undefined,
      file: isProtocol ? this : undefined,
    };
  }

  async truncate(size: number, exact = false, prealloc: Preallocation = 'off'): Promise<void> {
    this.checkWritable();
    checkRequest(size, 0);
    const state = this.state;
    if (!state.truncate) throw new BlockError('ENOTSUP', 'Image format driver does not support resize');
    // As QEMU's bdrv_co_truncate: growing over a backing file that reaches past
    // the old end must not expose the backing file's data there.
    let zeroWrite = false;
    const backing = this.backing;
    if (backing) {
      const old = await this.getLength();
      zeroWrite = size > old && (await backing.getLength()) > old;
    }
    if (zeroWrite && state.truncateZeroWrite !== true) throw new BlockError('ENOTSUP', 'Block driver does not support requested flags');
    await state.truncate(size, exact, prealloc, zeroWrite);
  }

  async allocatedFileSize(): Promise<number | undefined> {
    const state = this.state;
    if (state.allocatedFileSize) return state.allocatedFileSize();
    const file = this.file;
    return file ? file.allocatedFileSize() : undefined;
  }

  info(): DriverInfo {
    return this.state.info?.() ?? {};
  }

  /**
   * Stops this node's host files from denying writes and resizes to other
   * opens. For a tool that writes an image through a second, read-write open
   * while a chain reads it (qemu-img commit writes the base this way where
   * QEMU reopens the chain's node read-write): the two opens would otherwise
   * refuse each other, as two processes would.
   */
  allowWriters(): void {
    for (let n: BlockNode | undefined = this; n; n = n.file ?? n.children.get('image')) n.driverState?.allowWriters?.();
  }

  /**
   * Whether QEMU's bdrv_get_info answers for this node: the driver's own
   * info, else raw and filters ask the node below them (raw over nbd fails).
   */
  answersInfo(): boolean {
    // A filter answers with what is below it (blkdebug's own info() is its image's).
    if (this.state.info && this.driver.kind !== 'filter') return true;
    if (this.driver.noInfo) return false;
    if (this.driver.name !== 'raw' && this.driver.kind !== 'filter') return true;
    const below = this.file ?? this.children.get('image');
    return below === undefined || below.answersInfo();
  }

  /** Closes this node, then its children (a format may write metadata to `file` while closing). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.driverState) await this.driverState.close();
    } finally {
      for (const child of this.children.values()) await child.close();
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

function iovIsZero(iov: readonly Uint8Array[]): boolean {
  for (let i = 0; i < iov.length; i++) if (!isAllZero(iov[i])) return false;
  return true;
}
