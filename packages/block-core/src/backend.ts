// BlockBackend: what a device or tool holds (QEMU's BlockBackend). It owns
// the guest-visible rules: bounds against the virtual size, the write cache
// enable (WCE) bit that turns every write into FUA, and the cache mode.
import { cacheModeName, type CacheFlags } from './cache.js';
import type { BlockStatus, DriverInfo, Preallocation, WriteFlags, ZeroFlags } from './driver.js';
import { BlockError } from './errors.js';
import { iovLength } from './iov.js';
import type { BlockNode } from './node.js';
import { refreshedFilename } from './refresh-filename.js';

const NO_FLAGS: WriteFlags = Object.freeze({});
const FUA: WriteFlags = Object.freeze({ fua: true });

/** How the protocol node below reached the host: page cache, O_DIRECT, or O_DSYNC (O_DIRECT refused). */
export type HostCacheBypass = 'none' | 'O_DIRECT' | 'O_DSYNC';

export interface BackendInfo extends DriverInfo {
  format: string;
  filename: string;
  /** Cache mode name from the current flags ('writeback', 'none', ...). */
  cacheMode: string;
  /** What cache.direct turned into on the file node (O_DSYNC = O_DIRECT was refused, e.g. tmpfs). */
  hostCacheBypass: HostCacheBypass;
}

export class BlockBackend {
  readonly root: BlockNode;
  readonly readOnly: boolean;
  /** Guest-visible size, refreshed by getLength() and truncate(). */
  private length: number;
  private wce: boolean;
  private readonly flags: CacheFlags;
  private closed = false;

  constructor(root: BlockNode, length: number, cache: CacheFlags) {
    this.root = root;
    this.readOnly = root.readOnly;
    this.length = length;
    this.wce = cache.writeback;
    this.flags = { ...cache };
  }

  async getLength(): Promise<number> {
    this.length = await this.root.getLength();
    return this.length;
  }

  private checkRange(offset: number, length: number): void {
    if (this.root.state.noMedium === true) throw new BlockError('ENOMEDIUM');
    if (!(offset >= 0 && length >= 0) || !Number.isSafeInteger(offset) || !Number.isSafeInteger(length)) {
      throw new BlockError('EINVAL');
    }
    if (offset > this.length || length > this.length - offset) throw new BlockError('EIO');
  }

  private checkWritable(): void {
    if (this.readOnly) throw new BlockError('EPERM', 'Block node is read-only');
  }

  // Plain functions returning the node's promise (checks reject, never throw):
  // an async wrapper per layer costs a promise and microtask turns per request.
  read(offset: number, buf: Uint8Array): Promise<void> {
    try {
      this.checkRange(offset, buf.byteLength);
      return this.root.readv(offset, [buf]);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  readv(offset: number, iov: Uint8Array[]): Promise<void> {
    try {
      this.checkRange(offset, iovLength(iov));
      return this.root.readv(offset, iov);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  write(offset: number, buf: Uint8Array, flags?: WriteFlags): Promise<void> {
    return this.writev(offset, [buf], flags);
  }

  writev(offset: number, iov: Uint8Array[], flags?: WriteFlags): Promise<void> {
    try {
      this.checkWritable();
      this.checkRange(offset, iovLength(iov));
      // WCE off: every write must be stable before it is acknowledged.
      return this.root.writev(offset, iov, this.wce ? flags ?? NO_FLAGS : FUA);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Compressed write (QEMU's blk_pwrite_compressed): the format decides the
   * granularity (qcow2: whole clusters, or a tail at the end of the image).
   * Formats without compression answer ENOTSUP, as raw does in QEMU.
   */
  async writeCompressed(offset: number, buf: Uint8Array): Promise<void> {
    this.checkWritable();
    this.checkRange(offset, buf.byteLength);
    const state = this.root.state;
    if (state.pwritevCompressed === undefined) throw new BlockError('ENOTSUP');
    await state.pwritevCompressed(offset, buf.byteLength, [buf]);
    // WCE off: a compressed write is a write like any other and must be stable before it is acknowledged.
    if (!this.wce) await this.root.flush();
  }

  /**
   * Writes VM state (QEMU's blk_save_vmstate; qemu-io `write -b`): no bounds
   * against the virtual size, the format keeps it past the disk. The first
   * node down the file chain with the hook answers; none: ENOTSUP.
   */
  async saveVmState(pos: number, buf: Uint8Array): Promise<void> {
    this.checkWritable();
    if (!Number.isSafeInteger(pos) || pos < 0) throw new BlockError('EINVAL');
    const node = vmStateNode(this.root, 'writeVmState');
    await node.state.writeVmState!(pos, buf.byteLength, [buf]);
    // WCE off: stable before it is acknowledged, as every other write here.
    if (!this.wce) await this.root.flush();
  }

  /** Reads VM state (QEMU's blk_load_vmstate; qemu-io `read -b`); unwritten parts read as zeroes. */
  async loadVmState(pos: number, buf: Uint8Array): Promise<void> {
    if (!Number.isSafeInteger(pos) || pos < 0) throw new BlockError('EINVAL');
    const node = vmStateNode(this.root, 'readVmState');
    await node.state.readVmState!(pos, buf.byteLength, [buf]);
  }

  async writeZeroes(offset: number, length: number, flags?: ZeroFlags): Promise<void> {
    this.checkWritable();
    this.checkRange(offset, length);
    const zf = this.wce || flags?.fua ? flags ?? NO_FLAGS : { ...flags, fua: true };
    return this.root.writeZeroesFromBackend(offset, length, zf);
  }

  /** A no-op success under discard=ignore (decided by the root node's discard mode). */
  async discard(offset: number, length: number): Promise<void> {
    this.checkWritable();
    this.checkRange(offset, length);
    return this.root.discard(offset, length);
  }

  /** Flushes the whole graph; cache=unsafe makes the protocol syncs no-ops. */
  async flush(): Promise<void> {
    if (this.closed) return;
    return this.root.flush();
  }

  async truncate(size: number, opts: { exact?: boolean; prealloc?: Preallocation; shrink?: boolean } = {}): Promise<void> {
    this.checkWritable();
    if (!Number.isSafeInteger(size) || size < 0) throw new BlockError('EINVAL', 'Invalid image size specified');
    await this.root.truncate(size, opts.exact ?? false, opts.prealloc ?? 'off');
    await this.getLength();
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    if (offset < 0 || length < 0) throw new BlockError('EINVAL');
    return this.root.blockStatus(offset, Math.max(0, Math.min(length, this.length - offset)));
  }

  /**
   * Block status of what a read returns, through the whole backing chain
   * (QEMU's bdrv_block_status_above to the bottom): the first layer that
   * allocates the range answers; a range no layer allocates reads as
   * zeroes, as does one past the end of a shorter backing file. `allocated`
   * says whether the root layer itself has it.
   */
  async blockStatusAbove(offset: number, length: number): Promise<BlockStatus> {
    if (offset < 0 || length < 0) throw new BlockError('EINVAL');
    // No backing file (convert maps a whole source this way, extent by
    // extent): the root's own answer, without the chain walk's extra layers.
    if (this.root.backing === undefined) {
      const st = await this.root.blockStatus(offset, Math.max(0, Math.min(length, this.length - offset)));
      return st.allocated ? st : { ...st, allocated: false };
    }
    const { status, depth } = await this.chainStatus(offset, length);
    return depth === 0 ? status : { ...status, allocated: false };
  }

  /**
   * blockStatusAbove() when the answer needs no waiting (no backing chain, and
   * the root driver answers from memory), else undefined: then call
   * blockStatusAbove(). Saves a caller that maps a whole image (convert) a
   * chain of promises per run.
   */
  blockStatusAboveNow(offset: number, length: number): BlockStatus | undefined {
    if (offset < 0 || length < 0 || this.root.backing !== undefined) return undefined;
    const st = this.root.blockStatusNow(offset, Math.max(0, Math.min(length, this.length - offset)));
    if (st === undefined) return undefined;
    return st.allocated ? st : { ...st, allocated: false };
  }

  /** Allocation in the root layer only (qemu-io `alloc`). */
  async isAllocated(offset: number, length: number): Promise<{ allocated: boolean; length: number }> {
    const n = Math.max(0, Math.min(length, this.length - offset));
    if (n === 0) return { allocated: false, length: 0 };
    const st = await this.root.blockStatus(offset, n);
    return { allocated: st.allocated, length: Math.max(0, Math.min(st.length, n)) };
  }

  /**
   * Allocation anywhere in the backing chain (QEMU's bdrv_is_allocated_above):
   * `depth` is the first layer that has the range (0 = root; a range past the
   * end of a shorter backing file belongs to that file), or the chain length
   * when none has it. `length` is how far that answer holds.
   */
  async isAllocatedAbove(offset: number, length: number): Promise<{ allocated: boolean; length: number; depth: number }> {
    const { n, depth, found } = await this.chainStatus(offset, length);
    return { allocated: found, length: n, depth };
  }

  /**
   * The walk down the backing chain behind blockStatusAbove and
   * isAllocatedAbove: the status of the first layer that allocates the range
   * (its length cut to where every layer above agrees) and that layer's depth.
   */
  private async chainStatus(offset: number, length: number): Promise<{ status: BlockStatus; n: number; depth: number; found: boolean }> {
    let n = Math.max(0, Math.min(length, this.length - offset));
    for (let node = this.root, depth = 0; ; depth++) {
      const st = await node.blockStatus(offset, n);
      if (st.length > 0 && st.length < n) n = st.length;
      if (st.allocated) return { status: depth === 0 ? st : { ...st, length: n }, n, depth, found: true };
      const backing = node.backing;
      if (backing === undefined) return { status: depth === 0 ? st : { ...st, length: n }, n, depth: depth + 1, found: false };
      if (offset >= (await backing.getLength())) {
        return { status: { length: n, data: false, zero: true, allocated: true }, n, depth: depth + 1, found: true };
      }
      node = backing;
    }
  }

  info(): BackendInfo {
    return {
      ...this.root.info(),
      format: this.root.driver.name,
      filename: refreshedFilename(this.root),
      cacheMode: cacheModeName(this.cacheFlags),
      hostCacheBypass: hostCacheBypassOf(this.root),
    };
  }

  allocatedFileSize(): Promise<number | undefined> {
    return this.root.allocatedFileSize();
  }

  get writeCacheEnabled(): boolean {
    return this.wce;
  }

  /** Guest toggles WCE: writeback <-> writethrough on the live backend (no reopen, no implicit flush). */
  setWriteCacheEnabled(on: boolean): void {
    this.wce = on;
    this.flags.writeback = on;
  }

  get cacheFlags(): CacheFlags {
    return { ...this.flags };
  }

  /**
   * Flushes, then closes the graph, as QEMU's bdrv_close does: closing a
   * writable image leaves what was written stable (a flush error does not
   * stop the close; cache=unsafe still skips the sync).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    if (!this.readOnly) await this.root.flush().catch(() => {});
    this.closed = true;
    await this.root.close();
  }
}

/** Walks file/image children down to a protocol node that reports how it bypasses the host cache. */
function hostCacheBypassOf(node: BlockNode): HostCacheBypass {
  for (let n: BlockNode | undefined = node; n; n = n.file ?? n.children.get('image')) {
    const mode = (n.state as { hostCacheBypass?: HostCacheBypass }).hostCacheBypass;
    if (mode) return mode;
  }
  return 'none';
}

/** QEMU's bdrv_co_rw_vmstate walk: the node with the hook, else its file (or filtered) child; none: ENOTSUP. */
function vmStateNode(node: BlockNode, hook: 'writeVmState' | 'readVmState'): BlockNode {
  for (let n: BlockNode | undefined = node; n; n = n.file ?? n.children.get('image')) {
    if (n.state[hook] !== undefined) return n;
  }
  throw new BlockError('ENOTSUP');
}
