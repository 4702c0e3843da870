// An open Sheepdog image: QEMU 1.4's client algorithm (spec section 6) with
// the cache-flag rules of the direct-write commit (section 7).
//
// cacheFlags is CACHE or DIRECT and is ORed into every object request.
// Writethrough is NOT done here: the generic layer follows each write with
// flush() while WCE is off, and flush() turns into FLUSH_VDI only under
// CACHE. DIRECT makes flush() a no-op. An INVALID_PARMS answer to FLUSH_VDI
// means the daemon has no object cache: switch to DIRECT for good.
import { BlockError, copyFromIov, copyToIov, type BlockDriverState, type BlockStatus, type CacheFlags, type DriverInfo, type Preallocation, type SnapshotCreateRequest, type SnapshotInfo, type WriteFlags } from '@tsemu/block-core';
import {
  SD_OP_CREATE_AND_WRITE_OBJ, SD_OP_READ_OBJ, SD_OP_WRITE_OBJ, SD_OP_FLUSH_VDI, SD_OP_DISCARD_OBJ,
  SD_FLAG_CMD_WRITE, SD_FLAG_CMD_COW, SD_FLAG_CMD_CACHE, SD_FLAG_CMD_DIRECT,
  SD_RES_SUCCESS, SD_RES_INVALID_PARMS, SD_RES_READONLY, SD_DATA_OBJ_SIZE, SD_MAX_VDI_SIZE,
} from '../wire/constants.js';
import { dataOidHi, inodeOidHi } from '../wire/oid.js';
import {
  SD_INODE_SIZE, SD_INODE_HEADER_SIZE, INODE_DATA_VDI_ID, INODE_VDI_SIZE, INODE_NR_COPIES, INODE_SNAP_CTIME,
  inodeDataVdiId, setInodeDataVdiId, readU64, writeU64, decodeInodeHeader, type InodeHeader,
} from '../wire/inode.js';
import { SheepdogIoConnection } from './io-connection.js';
import { SheepdogError, sdResultError, sdTransportError } from './errors.js';
import { reloadInode } from './inode-reload.js';
import { createSnapshot, listSnapshots, gotoSnapshot, deleteSnapshot, type SheepdogSnapshotInfo } from './snapshots.js';
import { findVdi, newVdi, releaseVdi, readObject, writeObject } from './vdi-ops.js';
import { loadSaveVmState } from './vmstate.js';
import type { SheepdogLocation } from './location.js';

function noop(): void {}

/** The driver-level flag for a set of generic cache flags (rule 1 of section 7.3). */
export function cacheFlagsFor(flags: CacheFlags): number {
  return flags.direct ? SD_FLAG_CMD_DIRECT : SD_FLAG_CMD_CACHE;
}

export interface SheepdogImageOptions {
  readOnly: boolean;
  cache: CacheFlags;
  /** How long to keep trying to reconnect after the I/O connection drops (default 30 s). */
  reconnectTimeoutMs?: number;
}

const DEFAULT_RECONNECT_TIMEOUT_MS = 30_000;
/** A READONLY answer triggers a reload and a retry; more than this in a row is a real failure. */
const MAX_READONLY_RETRIES = 3;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class SheepdogImage implements BlockDriverState {
  readonly requestAlignment = 1;
  /** No native FUA: the generic layer emulates it with flush(), which is what writethrough means here. */
  readonly supportsFua = false;

  /** CACHE or DIRECT: ORed into every object request. */
  cacheFlags: number;
  /** FLUSH_VDI answered INVALID_PARMS once: the daemon has no cache, stay DIRECT. */
  private daemonHasNoCache = false;
  private noFlush: boolean;
  private readonly readOnly: boolean;
  private discardSupported = true;
  /** Opened by snapshot id or tag: the first write branches off a new VDI. */
  isSnapshot: boolean;
  private branching: Promise<void> | null = null;
  /** Creates in flight, by object index: later writes to that index wait (sheep 0.5.6 crashes on two at once). */
  private readonly creating = new Map<number, Promise<unknown>>();
  private closed = false;
  private reconnecting: Promise<void> | null = null;
  private readonly reconnectTimeoutMs: number;
  /** Reconnects done so far (for tests and info). */
  reconnects = 0;

  private constructor(
    /** Mutable: a snapshot goto points it at the snapshot, so a reconnect looks that one up again. */
    public location: SheepdogLocation,
    private io: SheepdogIoConnection,
    /** The whole inode, kept in memory as QEMU does (about 4 MiB). */
    readonly inode: Buffer,
    public vid: number,
    opts: SheepdogImageOptions,
  ) {
    this.cacheFlags = cacheFlagsFor(opts.cache);
    this.noFlush = opts.cache.noFlush;
    this.readOnly = opts.readOnly;
    this.isSnapshot = location.snapId !== 0 || location.tag !== '';
    this.reconnectTimeoutMs = opts.reconnectTimeoutMs ?? DEFAULT_RECONNECT_TIMEOUT_MS;
  }

  // ---- the I/O socket, with reconnect ----

  /**
   * One object request on the I/O socket. When the connection drops, every
   * request in flight (and every new one) waits for one shared reconnect
   * and is then resent as it was; after reconnectTimeoutMs they fail with EIO.
   */
  private async request(
    opcode: number, flags: number, oidHi: number, oidLo: number, cowHi: number, cowLo: number,
    copies: number, offset: number, send: Uint8Array | null, recv: Uint8Array | null,
  ): Promise<number> {
    for (;;) {
      const io = this.io;
      try {
        return await io.request(opcode, flags, oidHi, oidLo, cowHi, cowLo, copies, offset, send, recv);
      } catch (err) {
        // Only transport failures are retried; a daemon's answer is final.
        if (this.closed || !(err instanceof SheepdogError) || err.result !== undefined) throw err;
        await this.reconnect(io);
      }
    }
  }

  private reconnect(failed: SheepdogIoConnection): Promise<void> {
    if (this.io !== failed) return Promise.resolve(); // someone already reconnected
    this.reconnecting ??= this.doReconnect().finally(() => (this.reconnecting = null));
    return this.reconnecting;
  }

  private async doReconnect(): Promise<void> {
    const deadline = Date.now() + this.reconnectTimeoutMs;
    let delay = 20;
    for (;;) {
      let io: SheepdogIoConnection | null = null;
      try {
        io = await SheepdogIoConnection.open(this.location.address);
        this.vid = await reloadInode(this, true);
        const old = this.io;
        this.io = io;
        this.reconnects++;
        void old.close();
        return;
      } catch (err) {
        if (io) void io.close();
        const left = deadline - Date.now();
        if (left <= 0) {
          throw sdTransportError(`sheepdog: failed to reconnect within ${this.reconnectTimeoutMs} ms: ${(err as Error).message}`);
        }
        await sleep(Math.min(delay, left));
        delay = Math.min(delay * 2, 1000);
      }
    }
  }

  /** READONLY: a snapshot was taken under us. Reload (switching to the new vid); the caller retries. */
  private async reloadAfterReadonly(): Promise<void> {
    this.vid = await reloadInode(this, false);
  }

  /**
   * Open: LOCK_VDI, then the whole inode, each on a short-lived socket (copies
   * 0). The I/O socket, which carries nothing until the first request,
   * connects meanwhile instead of before them (one connect less on the way).
   */
  static async open(location: SheepdogLocation, opts: SheepdogImageOptions): Promise<SheepdogImage> {
    const connecting = SheepdogIoConnection.open(location.address);
    connecting.catch(noop); // handled below, after the lookups; not an unhandled rejection meanwhile
    try {
      const vid = await findVdi(location.address, location.vdi, location.snapId, location.tag, true);
      // Unzeroed: readObject fills what the daemon did not send with zeros.
      const inode = Buffer.allocUnsafe(SD_INODE_SIZE);
      await readObject(location.address, inodeOidHi(vid), 0, 0, 0, inode, cacheFlagsFor(opts.cache));
      return new SheepdogImage(location, await connecting, inode, vid, opts);
    } catch (err) {
      await connecting.then((io) => io.close(), () => undefined);
      throw err;
    }
  }

  get header(): InodeHeader {
    return decodeInodeHeader(this.inode);
  }

  get copies(): number {
    return this.inode.readUInt8(INODE_NR_COPIES);
  }

  get vdiSize(): number {
    return readU64(this.inode, INODE_VDI_SIZE);
  }

  async getLength(): Promise<number> {
    return this.vdiSize;
  }

  setCacheFlags(flags: CacheFlags): void {
    // Only the direct bit matters: WCE (writeback) is the generic layer's business.
    this.cacheFlags = flags.direct || this.daemonHasNoCache ? SD_FLAG_CMD_DIRECT : SD_FLAG_CMD_CACHE;
    this.noFlush = flags.noFlush;
  }

  // ---- reads ----

  async preadv(offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    const single = iov.length === 1 && iov[0]!.length >= length;
    const buf = single ? iov[0]!.subarray(0, length) : new Uint8Array(length);
    await this.forEachPiece(offset, length, buf, false);
    if (!single) scatter(buf, iov);
  }

  private async readPiece(index: number, objOffset: number, dst: Uint8Array): Promise<void> {
    const owner = inodeDataVdiId(this.inode, index);
    if (owner === 0) {
      dst.fill(0); // never allocated: no wire I/O
      return;
    }
    const r = await this.request(SD_OP_READ_OBJ, this.cacheFlags, dataOidHi(owner), index, 0, 0, this.copies, objOffset, null, dst);
    if (r !== SD_RES_SUCCESS) throw sdResultError(r);
  }

  // ---- writes ----

  async pwritev(offset: number, length: number, iov: Uint8Array[], _flags: WriteFlags): Promise<void> {
    if (this.isSnapshot) await this.branch();
    const buf = iov.length === 1 && iov[0]!.length >= length ? iov[0]!.subarray(0, length) : gather(iov, length);
    await this.forEachPiece(offset, length, buf, true);
  }

  /**
   * Splits a request at object boundaries and runs the pieces concurrently.
   * For writes, the indexes that got allocated are then recorded in the
   * daemon's inode with one WRITE_OBJ before the request completes.
   */
  private async forEachPiece(offset: number, length: number, buf: Uint8Array, write: boolean): Promise<void> {
    const first = Math.floor(offset / SD_DATA_OBJ_SIZE);
    const last = Math.floor((offset + length - 1) / SD_DATA_OBJ_SIZE);
    if (length === 0) return;
    if (first === last) {
      // The common case: one object, no arrays.
      const objOffset = offset - first * SD_DATA_OBJ_SIZE;
      if (!write) return this.readPiece(first, objOffset, buf);
      if (await this.writePiece(first, objOffset, buf)) await this.updateInode(first, first);
      return;
    }
    const pieces: Promise<boolean | void>[] = [];
    let at = 0;
    for (let index = first; index <= last; index++) {
      const objOffset = index === first ? offset - first * SD_DATA_OBJ_SIZE : 0;
      const n = Math.min(SD_DATA_OBJ_SIZE - objOffset, length - at);
      const part = buf.subarray(at, at + n);
      pieces.push(write ? this.writePiece(index, objOffset, part) : this.readPiece(index, objOffset, part));
      at += n;
    }
    const settled = await Promise.allSettled(pieces);
    let min = -1;
    let max = -1;
    let failure: unknown;
    for (let i = 0; i < settled.length; i++) {
      const s = settled[i]!;
      if (s.status === 'rejected') failure ??= s.reason;
      else if (s.value === true) {
        if (min < 0) min = first + i;
        max = first + i;
      }
    }
    // Record allocations even when another piece failed: those objects exist now.
    if (write && min >= 0) await this.updateInode(min, max);
    if (failure !== undefined) throw failure;
  }

  /** Writes one piece; true when it allocated the object for this VDI (create or COW). */
  private async writePiece(index: number, objOffset: number, data: Uint8Array): Promise<boolean> {
    let readonlyRetries = 0;
    for (;;) {
      const owner = inodeDataVdiId(this.inode, index);
      if (owner === this.vid) {
        const r = await this.request(SD_OP_WRITE_OBJ, SD_FLAG_CMD_WRITE | this.cacheFlags, dataOidHi(this.vid), index, 0, 0, this.copies, objOffset, data, null);
        if (r === SD_RES_SUCCESS) return false;
        if (r === SD_RES_READONLY && readonlyRetries++ < MAX_READONLY_RETRIES) {
          // Our object now belongs to a snapshot: reload and redo this piece as copy-on-write.
          await this.reloadAfterReadonly();
          continue;
        }
        throw sdResultError(r);
      }
      const pending = this.creating.get(index);
      if (pending) {
        // Parked behind the create of the same object; then re-decide (a plain write if it worked).
        await pending.then(noop, noop);
        continue;
      }
      const create = this.createObject(index, owner, objOffset, data);
      this.creating.set(index, create);
      let current: boolean;
      try {
        current = await create;
      } finally {
        this.creating.delete(index);
      }
      if (current) return true;
      // The VDI changed under the create (reconnect found a new version): redo against the new inode.
    }
  }

  /**
   * CREATE_AND_WRITE_OBJ, with COW from the parent's object when one exists.
   * False when the VDI changed while it was in flight (the object went to the old vid).
   */
  private async createObject(index: number, owner: number, objOffset: number, data: Uint8Array): Promise<boolean> {
    const vid = this.vid;
    const flags = SD_FLAG_CMD_WRITE | this.cacheFlags | (owner !== 0 ? SD_FLAG_CMD_COW : 0);
    const cowHi = owner !== 0 ? dataOidHi(owner) : 0;
    const cowLo = owner !== 0 ? index : 0;
    const r = await this.request(SD_OP_CREATE_AND_WRITE_OBJ, flags, dataOidHi(vid), index, cowHi, cowLo, this.copies, objOffset, data, null);
    if (r !== SD_RES_SUCCESS) throw sdResultError(r);
    if (this.vid !== vid) return false;
    setInodeDataVdiId(this.inode, index, vid);
    return true;
  }

  /** One WRITE_OBJ of data_vdi_id[min..max] to the inode (not a create; cache flags applied). */
  private async updateInode(min: number, max: number): Promise<void> {
    const start = INODE_DATA_VDI_ID + 4 * min;
    const entries = this.inode.subarray(start, INODE_DATA_VDI_ID + 4 * (max + 1));
    const r = await this.request(SD_OP_WRITE_OBJ, SD_FLAG_CMD_WRITE | this.cacheFlags, inodeOidHi(this.vid), 0, 0, 0, this.copies, start, entries, null);
    if (r !== SD_RES_SUCCESS) throw sdResultError(r);
  }

  /** First write to an opened snapshot: NEW_VDI(base = snapshot, snapid 1), adopt the new inode. */
  private branch(): Promise<void> {
    this.branching ??= this.doBranch().finally(() => (this.branching = null));
    return this.branching;
  }

  private async doBranch(): Promise<void> {
    if (!this.isSnapshot) return;
    const addr = this.location.address;
    const vid = await newVdi(addr, this.location.vdi, this.vdiSize, this.vid, true);
    await readObject(addr, inodeOidHi(vid), 0, this.copies, 0, this.inode, this.cacheFlags);
    this.vid = vid;
    this.isSnapshot = false;
  }

  // ---- flush ----

  async flush(): Promise<void> {
    // unsafe never reaches here through the generic layer; be safe if called directly.
    if (this.noFlush || this.cacheFlags !== SD_FLAG_CMD_CACHE) return;
    const r = await this.request(SD_OP_FLUSH_VDI, this.cacheFlags, inodeOidHi(this.vid), 0, 0, 0, 0, 0, null, null);
    if (r === SD_RES_SUCCESS) return;
    if (r === SD_RES_INVALID_PARMS) {
      // The daemon runs without an object cache: nothing to flush, now or later.
      this.daemonHasNoCache = true;
      this.cacheFlags = SD_FLAG_CMD_DIRECT;
      return;
    }
    throw sdResultError(r);
  }

  // ---- internal snapshots (block-core has no snapshot hook yet: tools call these) ----

  snapshotCreate(tag: string, vmStateSize = 0, vmClockNsec = 0): Promise<void> {
    return createSnapshot(this, tag, vmStateSize, vmClockNsec);
  }
  snapshotList(): Promise<SheepdogSnapshotInfo[]> {
    return listSnapshots(this);
  }
  snapshotGoto(idOrTag: string): Promise<void> {
    return gotoSnapshot(this, idOrTag);
  }
  snapshotDelete(idOrTag: string): Promise<void> {
    return deleteSnapshot(this, idOrTag);
  }
  /** savevm's data: VMSTATE objects of the current vid (call before snapshotCreate with its size). */
  saveVmState(data: Uint8Array, pos = 0): Promise<number> {
    return loadSaveVmState(this, data, pos, false);
  }
  /** loadvm's data, after snapshotGoto: read from the snapshot's VMSTATE objects. */
  loadVmState(into: Uint8Array, pos = 0): Promise<number> {
    return loadSaveVmState(this, into, pos, true);
  }

  /** block-core's VM state hooks (qemu-io write -b / read -b) over the methods above. */
  async writeVmState(pos: number, length: number, iov: Uint8Array[]): Promise<void> {
    let buf = iov[0]!.subarray(0, length);
    if (iov.length > 1) copyFromIov(iov, (buf = new Uint8Array(length)), 0);
    await this.saveVmState(buf, pos);
  }
  async readVmState(pos: number, length: number, iov: Uint8Array[]): Promise<void> {
    if (iov.length === 1) {
      await this.loadVmState(iov[0]!.subarray(0, length), pos);
      return;
    }
    const buf = new Uint8Array(length);
    await this.loadVmState(buf, pos);
    copyToIov(buf, 0, iov);
  }

  // block-core's generic snapshot hooks (qemu-img snapshot), as adapters over the methods above.
  listSnapshots(): Promise<SnapshotInfo[]> {
    return listSnapshots(this);
  }
  createSnapshot(request: SnapshotCreateRequest): Promise<void> {
    return createSnapshot(this, request.name, request.vmStateSize ?? 0, request.vmClockNsec ?? 0);
  }
  gotoSnapshot(idOrName: string): Promise<void> {
    return gotoSnapshot(this, idOrName);
  }
  deleteSnapshot(idOrName: string): Promise<void> {
    return deleteSnapshot(this, idOrName);
  }

  // ---- discard, status, resize ----

  async pdiscard(offset: number, length: number): Promise<void> {
    if (!this.discardSupported) return;
    // Only whole objects can be dropped.
    const first = Math.ceil(offset / SD_DATA_OBJ_SIZE);
    const end = Math.floor((offset + length) / SD_DATA_OBJ_SIZE);
    for (let index = first; index < end; index++) {
      if (inodeDataVdiId(this.inode, index) !== this.vid) continue;
      const r = await this.request(SD_OP_DISCARD_OBJ, this.cacheFlags, dataOidHi(this.vid), index, 0, 0, this.copies, 0, null, null);
      if (r === SD_RES_INVALID_PARMS) {
        this.discardSupported = false;
        return;
      }
      if (r !== SD_RES_SUCCESS) throw sdResultError(r);
      setInodeDataVdiId(this.inode, index, 0);
    }
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    const size = this.vdiSize;
    if (offset >= size) return { length: 0, data: false, zero: false, allocated: false };
    const end = Math.min(offset + length, size);
    const index = Math.floor(offset / SD_DATA_OBJ_SIZE);
    const allocated = inodeDataVdiId(this.inode, index) !== 0;
    let next = (index + 1) * SD_DATA_OBJ_SIZE;
    while (next < end && (inodeDataVdiId(this.inode, next / SD_DATA_OBJ_SIZE) !== 0) === allocated) next += SD_DATA_OBJ_SIZE;
    const len = Math.min(next, end) - offset;
    return allocated
      ? { length: len, data: true, zero: false, allocated: true }
      : { length: len, data: false, zero: true, allocated: false };
  }

  async allocatedFileSize(): Promise<number> {
    const objects = Math.ceil(this.vdiSize / SD_DATA_OBJ_SIZE);
    let n = 0;
    for (let i = 0; i < objects; i++) if (inodeDataVdiId(this.inode, i) !== 0) n++;
    return n * SD_DATA_OBJ_SIZE;
  }

  /** Grow only: set vdi_size and write the inode header. */
  async truncate(size: number, _exact: boolean, prealloc: Preallocation): Promise<void> {
    const old = this.vdiSize;
    if (size < old) throw new BlockError('EINVAL', 'shrinking is not supported');
    if (size > SD_MAX_VDI_SIZE) throw new BlockError('EINVAL', 'too big image size');
    if (prealloc !== 'off') throw new BlockError('ENOTSUP', `Unsupported preallocation mode '${prealloc}'`);
    writeU64(this.inode, INODE_VDI_SIZE, size);
    try {
      await writeObject(this.location.address, inodeOidHi(this.vid), 0, this.copies, 0, this.inode.subarray(0, SD_INODE_HEADER_SIZE), this.cacheFlags);
    } catch (err) {
      writeU64(this.inode, INODE_VDI_SIZE, old);
      throw err;
    }
  }

  info(): DriverInfo {
    const h = this.header;
    return {
      clusterSize: SD_DATA_OBJ_SIZE,
      formatSpecific: {
        type: 'sheepdog',
        data: { vdi: h.name, 'vdi-id': this.vid, 'snap-id': h.snapId, snapshot: this.inode.readUInt32LE(INODE_SNAP_CTIME) !== 0 || this.isSnapshot },
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // The flush QEMU's bdrv_close does first comes from BlockBackend.close, above the driver.
    this.closed = true;
    try {
      await releaseVdi(this.location.address, this.location.vdi, this.vid);
    } catch {
      // As QEMU: a failed release is reported by the daemon's side, never fatal to close.
    } finally {
      await this.io.close();
    }
  }
}

function gather(iov: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const v of iov) {
    if (at >= length) break;
    const n = Math.min(v.length, length - at);
    out.set(n === v.length ? v : v.subarray(0, n), at);
    at += n;
  }
  return out;
}

function scatter(buf: Uint8Array, iov: Uint8Array[]): void {
  let at = 0;
  for (const v of iov) {
    if (at >= buf.length) break;
    const n = Math.min(v.length, buf.length - at);
    v.set(buf.subarray(at, at + n));
    at += n;
  }
}
