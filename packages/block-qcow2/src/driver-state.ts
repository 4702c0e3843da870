// Qcow2DriverState: the BlockDriverState block-core calls. Thin: counts
// requests in flight (for deferred frees) and forwards to reader/writer.
import {
  BlockError, type BlockDriverState, type BlockNode, type BlockStatus, type DriverInfo, type Preallocation, type ZeroFlags,
} from '@tsemu/block-core';
import { COMPAT_LAZY_REFCOUNTS, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, INCOMPAT_EXTL2 } from './constants.js';
import type { Qcow2Image } from './image.js';
import { amendQcow2 } from './amend.js';
import { Qcow2Checker, type Qcow2CheckResult, type Qcow2Repair } from './check.js';
import { Qcow2CompressedWriter } from './compressed-writer.js';
import { Qcow2Reader } from './read-path.js';
import { resizeQcow2 } from './resize.js';
import { Qcow2Snapshots } from './snapshots.js';
import { Qcow2Writer } from './write-path.js';

export class Qcow2DriverState implements BlockDriverState {
  readonly requestAlignment = 1;
  readonly reader: Qcow2Reader;
  readonly writer: Qcow2Writer;
  private readonly compressedWriter: Qcow2CompressedWriter;
  /** Internal snapshots (list/create/apply/delete); tools reach it through `node.state`. */
  readonly snapshots: Qcow2Snapshots;

  constructor(readonly image: Qcow2Image, fileNode: BlockNode | undefined) {
    this.reader = new Qcow2Reader(image, fileNode);
    this.writer = new Qcow2Writer(image, this.reader);
    this.compressedWriter = new Qcow2CompressedWriter(image, this.writer);
    this.snapshots = new Qcow2Snapshots(image);
  }

  getLength(): Promise<number> {
    return Promise.resolve(this.image.header.size);
  }

  async preadv(offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    this.checkRange(offset, length);
    const img = this.image;
    img.beginRequest();
    try {
      await this.reader.read(offset, length, iov);
    } finally {
      await img.endRequest();
    }
  }

  async pwritev(offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    this.checkWrite(offset, length);
    const img = this.image;
    img.beginRequest();
    try {
      await this.writer.write(offset, length, iov);
    } finally {
      await img.endRequest();
    }
  }

  /**
   * Compressed write (QEMU's bdrv_co_pwritev_compressed): whole clusters at
   * cluster-aligned offsets (a short last cluster of the image is padded),
   * into clusters without data. block-core's contract has no such entry yet;
   * tools reach it through `node.state` when `driver.supports.compressedWrites`.
   */
  async pwritevCompressed(offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    this.checkWrite(offset, length);
    const img = this.image;
    img.beginRequest();
    try {
      await this.compressedWriter.write(offset, length, iov);
    } finally {
      await img.endRequest();
    }
  }

  async pwriteZeroes(offset: number, length: number, flags: ZeroFlags): Promise<void> {
    this.checkWrite(offset, length);
    const img = this.image;
    img.beginRequest();
    try {
      await this.writer.writeZeroes(offset, length, flags.mayUnmap === true);
    } finally {
      await img.endRequest();
    }
  }

  async pdiscard(offset: number, length: number): Promise<void> {
    this.checkWrite(offset, length);
    const img = this.image;
    img.beginRequest();
    try {
      await this.writer.discard(offset, length);
    } finally {
      await img.endRequest();
    }
  }

  /** qemu-img check [-r leaks|all]: runs with the metadata lock held; expects no guest I/O in flight. */
  async check(repair: Qcow2Repair = 'none'): Promise<Qcow2CheckResult> {
    const img = this.image;
    if (repair !== 'none' && img.readOnly) throw new BlockError('EPERM', 'Block node is read-only');
    await img.flushPending();
    await img.lock.lock();
    try {
      return await new Qcow2Checker(img).run(repair);
    } finally {
      img.lock.unlock();
    }
  }

  /** qemu-img amend -o ... (compat, lazy_refcounts, size; refcount_bits refused for now). */
  async amend(options: Record<string, string>): Promise<void> {
    const img = this.image;
    if (img.readOnly) throw new BlockError('EPERM', 'Block node is read-only');
    await amendQcow2(img, this.writer, options);
  }

  /** Grow, or shrink (the generic layer / tool asks for --shrink); `exact` is implied. */
  async truncate(size: number, _exact: boolean, prealloc: Preallocation): Promise<void> {
    const img = this.image;
    if (img.readOnly) throw new BlockError('EPERM', 'Block node is read-only');
    img.beginRequest();
    try {
      await resizeQcow2(img, this.writer, size, prealloc);
    } finally {
      await img.endRequest();
    }
  }

  /** Metadata is written through as it changes; only deferred frees may be pending. */
  async flush(): Promise<void> {
    await this.image.flushPending();
  }

  blockStatus(offset: number, length: number): Promise<BlockStatus> {
    return this.reader.blockStatus(offset, length);
  }

  info(): DriverInfo {
    const h = this.image.header;
    const cs = h.clusterSize;
    const perTable = cs * this.image.map.l2Entries;
    const l1VmStateIndex = Math.ceil(h.size / perTable);
    return {
      clusterSize: cs,
      vmStateOffset: l1VmStateIndex * perTable,
      dirty: (h.incompatibleFeatures & INCOMPAT_DIRTY) !== 0n,
      formatSpecific: { type: 'qcow2', data: formatSpecificData(this.image) },
    };
  }

  async close(): Promise<void> {
    await this.image.close();
  }

  private checkRange(offset: number, length: number): void {
    if (offset + length > this.image.header.size) throw new BlockError('EIO');
  }

  private checkWrite(offset: number, length: number): void {
    if (this.image.readOnly) throw new BlockError('EPERM', 'Block node is read-only');
    if ((this.image.header.incompatibleFeatures & INCOMPAT_CORRUPT) !== 0n) throw new BlockError('EIO');
    this.checkRange(offset, length);
  }
}

/** qemu-img info's "Format specific information", keys and order as QEMU 7.2 emits them. */
export function formatSpecificData(img: Qcow2Image): Record<string, unknown> {
  const h = img.header;
  const compression = h.compressionType === 0 ? 'zlib' : 'zstd';
  if (h.version < 3) return { compat: '0.10', 'compression-type': compression, 'refcount-bits': 2 ** h.refcountOrder };
  return {
    compat: '1.1',
    'compression-type': compression,
    'lazy-refcounts': (h.compatibleFeatures & COMPAT_LAZY_REFCOUNTS) !== 0n,
    'refcount-bits': 2 ** h.refcountOrder,
    corrupt: (h.incompatibleFeatures & INCOMPAT_CORRUPT) !== 0n,
    'extended-l2': (h.incompatibleFeatures & INCOMPAT_EXTL2) !== 0n,
  };
}
