// Qcow2Reader: guest reads (data, zero, unallocated -> backing or zeroes,
// compressed) and block status. Never takes the metadata lock.
import { sliceIov, type BlockNode, type BlockStatus } from '@tsemu/block-core';
import { ClusterType, Qcow2Extent, Qcow2ExtentPool } from './cluster-map.js';
import { decodeCompressed, inflateCluster, type CompressedLocation } from './compressed.js';
import type { Qcow2Image } from './image.js';
import { detectMetadataPreallocation } from './prealloc-detect.js';
import type { Qcow2Crypto } from './encryption.js';
import { copyFromIovRange, copyIntoIov, readIntoIov, zeroIovRange } from './iov-util.js';

/** Deciphers iov[pos, pos+n) in place: whole 512-byte sectors, the first numbered `at / 512`. */
function decryptIov(crypto: Qcow2Crypto, iov: readonly Uint8Array[], pos: number, n: number, at: number): void {
  const pieces = sliceIov(iov, pos, n);
  if (pieces.length === 1) return crypto.cipher.decrypt(pieces[0]!, at / 512);
  const whole = new Uint8Array(n);
  copyFromIovRange(iov, pos, n, whole, 0);
  crypto.cipher.decrypt(whole, at / 512);
  copyIntoIov(whole, 0, iov, pos, n);
}

export class Qcow2Reader {
  private lastHi = -1;
  private lastLo = -1;
  private lastCluster: Uint8Array | undefined;
  private readonly loc: CompressedLocation = { host: 0, bytes: 0 };
  private readonly extents = new Qcow2ExtentPool();
  /** blockStatus's scratch extent for lookups answered from the cache (filled and read with no await in between). */
  private readonly statusExtent = new Qcow2Extent();

  /** Metadata preallocation detected (lazily, at the first status query). */
  private preallocated: Promise<boolean> | undefined;
  /** Detected as not preallocated: data clusters are reported as they are, without another await. */
  private plain = false;

  constructor(private readonly img: Qcow2Image, private readonly fileNode: BlockNode | undefined) {}

  /** Reads what the guest sees at [offset, offset+length) into iov[pos...]. */
  async read(offset: number, length: number, iov: readonly Uint8Array[], pos0 = 0): Promise<void> {
    const img = this.img;
    const ext = this.extents.take();
    try {
      let pos = 0;
      while (pos < length) {
        if (!img.map.lookupCached(offset + pos, length - pos, ext)) await img.map.lookup(offset + pos, length - pos, ext);
        const n = ext.bytes;
        switch (ext.type) {
          case ClusterType.Normal:
            await readIntoIov(img.file, ext.host, iov, pos0 + pos, n);
            if (img.crypto !== undefined) decryptIov(img.crypto, iov, pos0 + pos, n, img.crypto.physical ? ext.host : offset + pos);
            break;
          case ClusterType.ZeroPlain:
          case ClusterType.ZeroAlloc:
            zeroIovRange(iov, pos0 + pos, n);
            break;
          case ClusterType.Compressed: {
            const data = await this.decompress(ext.entryHi, ext.entryLo);
            copyIntoIov(data, (offset + pos) % img.clusterSize, iov, pos0 + pos, n);
            break;
          }
          default:
            await this.readBacking(offset + pos, iov, pos0 + pos, n);
        }
        pos += n;
      }
    } finally {
      this.extents.give(ext);
    }
  }

  /** Unallocated ranges: the backing node, zeroes past its end or without one. */
  private async readBacking(offset: number, iov: readonly Uint8Array[], pos: number, n: number): Promise<void> {
    const backing = this.img.backing;
    if (backing === undefined) return zeroIovRange(iov, pos, n);
    const len = await backing.getLength();
    const avail = Math.max(0, Math.min(n, len - offset));
    if (avail > 0) await readIntoIov(backing, offset, iov, pos, avail);
    if (avail < n) zeroIovRange(iov, pos + avail, n - avail);
  }

  /** One decompressed cluster; the last one is kept (sequential reads hit it repeatedly). */
  async decompress(hi: number, lo: number): Promise<Uint8Array> {
    if (hi === this.lastHi && lo === this.lastLo && this.lastCluster) return this.lastCluster;
    const img = this.img;
    decodeCompressed(hi, lo, img.clusterBits, this.loc);
    const input = new Uint8Array(this.loc.bytes);
    await img.file.read(this.loc.host, input);
    const out = inflateCluster(input, img.clusterSize, img.header.compressionType);
    this.lastHi = hi;
    this.lastLo = lo;
    this.lastCluster = out;
    return out;
  }

  /** Forgets the decompressed cluster (its host bytes may be reused). */
  invalidate(): void {
    this.lastHi = -1;
    this.lastCluster = undefined;
  }

  /**
   * Block status as block-core's callers see it (map, convert, compare): on
   * images detected as metadata-preallocated (once per open, as QEMU does),
   * a data cluster's host range is asked too, and reads as zero where the
   * file has a hole or ends. Plain images keep their data clusters as data.
   */
  async statusWithHost(offset: number, length: number): Promise<BlockStatus> {
    const st = await this.blockStatus(offset, length);
    const file = this.fileNode;
    if (!st.data || st.zero || st.offset === undefined || st.compressed || file === undefined) return st;
    if (this.plain) return st;
    this.preallocated ??= detectMetadataPreallocation(this.img, file);
    if (!(await this.preallocated)) {
      this.plain = true;
      return st;
    }
    const fileLength = await file.getLength();
    if (st.offset >= fileLength) return { ...st, zero: true };
    const fst = await file.blockStatus(st.offset, Math.min(st.length, fileLength - st.offset));
    const fileZero = fst.zero && !fst.data;
    // A hole running to the end of the file covers the whole run (past EOF reads as zeroes too).
    if (fileZero && st.offset + fst.length >= fileLength) return { ...st, zero: true };
    return { ...st, length: Math.max(1, Math.min(fst.length, st.length)), zero: fileZero };
  }

  /**
   * statusWithHost() when it needs no waiting: the L2 table is cached and
   * either the run is not data or the image is known not to be
   * metadata-preallocated. Else undefined (statusWithHost() answers).
   */
  statusNow(offset: number, length: number): BlockStatus | undefined {
    const img = this.img;
    const size = img.header.size;
    if (offset >= size || length === 0) return { length: 0, data: false, zero: true, allocated: false };
    const ext = this.statusExtent;
    if (!img.map.lookupCached(offset, Math.min(length, size - offset), ext)) return undefined;
    const st = this.extentStatus(ext);
    if (!st.data || st.zero || st.offset === undefined || st.compressed || this.fileNode === undefined) return st;
    return this.plain ? st : undefined;
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    const img = this.img;
    const size = img.header.size;
    if (offset >= size || length === 0) return { length: 0, data: false, zero: true, allocated: false };
    let ext = this.statusExtent;
    if (!img.map.lookupCached(offset, Math.min(length, size - offset), ext)) {
      // The table must be read: an extent of its own, the shared one may be reused meanwhile.
      ext = new Qcow2Extent();
      await img.map.lookup(offset, Math.min(length, size - offset), ext);
    }
    return this.extentStatus(ext);
  }

  /** The block status of a looked-up run. */
  private extentStatus(ext: Qcow2Extent): BlockStatus {
    const img = this.img;
    const n = ext.bytes;
    switch (ext.type) {
      // An encrypted cluster's host bytes are no use to anyone reading the file directly: no offset (as QEMU).
      case ClusterType.Normal:
        return img.encryptInfo !== undefined ? { length: n, data: true, zero: false, allocated: true }
          : { length: n, data: true, zero: false, allocated: true, offset: ext.host, file: this.fileNode };
      case ClusterType.ZeroAlloc:
        return img.encryptInfo !== undefined ? { length: n, data: false, zero: true, allocated: true }
          : { length: n, data: false, zero: true, allocated: true, offset: ext.host, file: this.fileNode };
      case ClusterType.ZeroPlain:
        return { length: n, data: false, zero: true, allocated: true };
      case ClusterType.Compressed:
        return { length: n, data: true, zero: false, allocated: true, compressed: true };
      default:
        return { length: n, data: false, zero: img.backing === undefined, allocated: false };
    }
  }
}
