// Qcow2DriverState: the BlockDriverState block-core calls. Thin: counts
// requests in flight (for deferred frees) and forwards to reader/writer.
import {
  BlockError, type BlockDriverState, type BlockNode, type BlockStatus, type CheckRepair, type CheckResult, type DriverInfo,
  qdictOrder, type Preallocation, type SnapshotCreateRequest, type SnapshotInfo, type ZeroFlags,
} from '@tsemu/block-core';
import {
  AUTOCLEAR_DATA_FILE_RAW, COMPAT_LAZY_REFCOUNTS, EXT_DATA_FILE, INCOMPAT_CORRUPT, INCOMPAT_DATA_FILE, INCOMPAT_DIRTY, INCOMPAT_EXTL2,
} from './constants.js';
import type { Qcow2Bitmaps } from './bitmaps.js';
import { setRefcount } from './refcount-codec.js';
import type { Qcow2Image } from './image.js';
import { amendQcow2 } from './amend.js';
import { Qcow2Checker, type Qcow2CheckResult, type Qcow2Repair } from './check.js';
import { Qcow2CompressedWriter } from './compressed-writer.js';
import { Qcow2Reader } from './read-path.js';
import { resizeQcow2 } from './resize.js';
import { Qcow2Snapshots } from './snapshots.js';
import { Qcow2Writer } from './write-path.js';
import { Qcow2VmState } from './vmstate.js';

export class Qcow2DriverState implements BlockDriverState {
  /** Encrypted images are read in whole 512-byte sectors (the cipher's unit), as in QEMU. */
  readonly requestAlignment: number;
  readonly reader: Qcow2Reader;
  readonly writer: Qcow2Writer;
  private readonly compressedWriter: Qcow2CompressedWriter;
  /** Internal snapshots (list/create/apply/delete); tools reach it through `node.state`. */
  readonly snapshots: Qcow2Snapshots;
  /** VM state past the disk (qemu-io write -b / read -b). */
  private readonly vmState: Qcow2VmState;

  constructor(readonly image: Qcow2Image, fileNode: BlockNode | undefined) {
    this.requestAlignment = image.crypto !== undefined ? 512 : 1;
    this.reader = new Qcow2Reader(image, fileNode);
    this.writer = new Qcow2Writer(image, this.reader);
    this.compressedWriter = new Qcow2CompressedWriter(image, this.writer);
    this.snapshots = new Qcow2Snapshots(image);
    this.vmState = new Qcow2VmState(image, this.reader, this.writer);
  }

  /** After a fatal corruption event (see Qcow2Image.corrupt). */
  get noMedium(): boolean {
    return this.image.unusable;
  }

  getLength(): Promise<number> {
    if (this.image.unusable) return Promise.reject(new BlockError('ENOMEDIUM'));
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
      if (img.bitmaps.tracking) img.bitmaps.markDirty(offset, length);
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
    if (img.crypto !== undefined) throw new BlockError('ENOTSUP', 'qcow2: compressed writes to encrypted images are not supported');
    img.beginRequest();
    try {
      await this.compressedWriter.write(offset, length, iov);
      if (img.bitmaps.tracking) img.bitmaps.markDirty(offset, length);
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
      if (img.bitmaps.tracking) img.bitmaps.markDirty(offset, length);
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
      if (img.bitmaps.tracking) img.bitmaps.markDirty(offset, length);
    } finally {
      await img.endRequest();
    }
  }

  writeVmState(pos: number, length: number, iov: Uint8Array[]): Promise<void> {
    return this.vmState.save(pos, length, iov);
  }

  readVmState(pos: number, length: number, iov: Uint8Array[]): Promise<void> {
    return this.vmState.load(pos, length, iov);
  }

  /** qemu-img check [-r leaks|all]: runs with the metadata lock held; expects no guest I/O in flight. */
  async check(repair: Qcow2Repair = 'none', onMessage?: (line: string) => void): Promise<Qcow2CheckResult> {
    const img = this.image;
    if (repair !== 'none' && img.readOnly) throw new BlockError('EPERM', 'Block node is read-only');
    await img.flushPending();
    await img.lock.lock();
    try {
      return await new Qcow2Checker(img).run(repair, onMessage);
    } finally {
      img.lock.unlock();
    }
  }

  /** qemu-img amend -o ... (compat, refcount_bits, lazy_refcounts, size); `status`: QEMU's amend progress. */
  async amend(options: Record<string, string>, status?: (done: number, total: number) => void, force = false): Promise<void> {
    const img = this.image;
    if (img.readOnly) throw new BlockError('EPERM', 'Block node is read-only');
    await amendQcow2(img, this.writer, options, status, force);
  }

  // ---- block-core's tool hooks: thin adapters over snapshots / check / amend ----

  async listSnapshots(): Promise<SnapshotInfo[]> {
    return (await this.snapshots.list()).map((s) => ({
      id: s.id, name: s.name, vmStateSize: s.vmStateSize, dateSec: s.dateSec, dateNsec: s.dateNsec,
      vmClockNsec: Number(s.vmClockNsec), icount: s.icount === undefined ? undefined : Number(BigInt.asIntN(64, s.icount)),
    }));
  }

  async createSnapshot(request: SnapshotCreateRequest): Promise<void> {
    // No VM state here: qemu-img only makes disk snapshots.
    if (request.vmStateSize) throw new BlockError('ENOTSUP', 'qcow2: snapshots with VM state are not supported');
    await this.snapshots.create(request.name, {
      dateSec: request.dateSec, dateNsec: request.dateNsec,
      vmClockNsec: request.vmClockNsec === undefined ? undefined : BigInt(request.vmClockNsec),
    });
  }

  /** As QEMU 7.2, a snapshot of another disk size first resizes the active image to it. */
  async gotoSnapshot(idOrName: string): Promise<void> {
    const list = await this.snapshots.list();
    const snap = list.find((s) => s.id === idOrName) ?? list.find((s) => s.name === idOrName);
    if (snap?.diskSize !== undefined && snap.diskSize !== this.image.header.size) {
      await this.truncate(snap.diskSize, true, 'off');
    }
    await this.snapshots.apply(idOrName);
  }

  /** Swaps the in-memory active L1 for the snapshot's (read-only opens only; nothing is written). */
  async loadSnapshotReadOnly(id: string | undefined, name: string | undefined): Promise<void> {
    const img = this.image;
    if (!img.readOnly) throw new BlockError('EINVAL', 'Device must be read-only to load snapshots temporarily');
    const list = await this.snapshots.list();
    const snap = list.find((s) => (id === undefined || s.id === id) && (name === undefined || s.name === name));
    if (!snap) throw new BlockError('ENOENT', "Can't find snapshot");
    if (snap.l1Size > (32 * 1024 * 1024) / 8 || snap.l1Offset % img.clusterSize !== 0) {
      throw new BlockError('EFBIG', 'Snapshot L1 table offset invalid');
    }
    const raw = new Uint8Array(snap.l1Size * 8);
    await img.file.read(snap.l1Offset, raw);
    const dv = new DataView(raw.buffer);
    const map = img.map;
    map.replaceL1(snap.l1Offset, snap.l1Size);
    for (let i = 0; i < snap.l1Size * 2; i++) map.l1[i] = dv.getUint32(i * 4);
    // As QEMU, the virtual size stays the active image's.
    this.reader.invalidate();
  }

  deleteSnapshot(idOrName: string): Promise<void> {
    return this.snapshots.delete(idOrName);
  }

  /** One check pass as QEMU's bdrv_check; the lines reach `onMessage` as they are made. */
  async checkImage(repair: CheckRepair, onMessage?: (line: string) => void): Promise<CheckResult> {
    const r = await this.check(repair, onMessage);
    return {
      corruptions: r.corruptions, leaks: r.leaks, checkErrors: r.checkErrors, corruptionsFixed: r.corruptionsFixed, leaksFixed: r.leaksFixed,
      imageEndOffset: r.imageEndOffset, allocatedClusters: r.allocatedClusters, totalClusters: r.totalClusters,
      fragmentedClusters: r.fragmentedClusters, compressedClusters: r.compressedClusters,
    };
  }

  /**
   * qemu-img commit's emptying of the top image, as QEMU's qcow2 does it: a v3
   * image without snapshots whose L1 fits in one refcount block with header,
   * table and block is reset to a fresh layout (header, refcount table,
   * refcount block, zeroed L1 at cluster 3; file truncated after it);
   * otherwise every cluster is discarded (L2 tables stay allocated).
   */
  async makeEmpty(): Promise<void> {
    const img = this.image;
    if (img.readOnly) throw new BlockError('EPERM', 'Block node is read-only');
    const h = img.header;
    const cs = img.clusterSize;
    const l1Clusters = Math.ceil((img.map.l1Size * 8) / cs);
    const perBlock = (cs * 8) / 2 ** h.refcountOrder;
    if (h.version < 3 || h.nbSnapshots > 0 || 3 + l1Clusters > perBlock ||
        img.bitmaps.list.length > 0) {
      img.beginRequest();
      try {
        await this.writer.fullDiscard(0, Math.ceil(h.size / cs) * cs);
      } finally {
        await img.endRequest();
      }
      return;
    }
    await img.flushPending();
    await img.lockedWriteThrough(async () => {
      const file = img.file;
      const map = img.map;
      // Refcounts are about to be wrong on disk: dirty until the new layout is complete.
      h.incompatibleFeatures |= INCOMPAT_DIRTY;
      await img.writeHeader();
      await file.flush();
      for (const off of map.l2Offsets()) map.cache.drop(off);
      await file.write(map.l1Offset, new Uint8Array(l1Clusters * cs));
      await file.write(cs, new Uint8Array((2 + l1Clusters) * cs));
      const block = new Uint8Array(cs);
      const bdv = new DataView(block.buffer);
      for (let c = 0; c < 3 + l1Clusters; c++) setRefcount(block, bdv, h.refcountOrder, c, 1);
      await file.write(2 * cs, block);
      const entry = new Uint8Array(8);
      new DataView(entry.buffer).setBigUint64(0, BigInt(2 * cs));
      await file.write(cs, entry);
      // Every old cluster is gone: whoever tracks one (the compressed writer's packing cluster) must let go.
      const freed = img.refcounts.onClusterFreed;
      if (freed !== undefined) for (let c = Math.ceil(file.size / cs) - 1; c >= 0; c--) freed(c);
      await file.truncate((3 + l1Clusters) * cs);
      h.l1TableOffset = 3 * cs;
      h.refcountTableOffset = cs;
      h.refcountTableClusters = 1;
      h.incompatibleFeatures &= ~INCOMPAT_DIRTY;
      await file.flush();
      await img.writeHeader();
      await file.flush();
      map.replaceL1(3 * cs, map.l1Size);
      map.l1.fill(0);
      await img.refcounts.reload(cs, 1);
      img.metadataClusters.clear();
      img.metadataClusters.add(2);
      this.reader.invalidate();
    });
  }

  /** qemu-img rebase: the name (and backing_fmt extension) live in the header cluster. */
  async changeBackingFile(backingFile: string | undefined, backingFormat: string | undefined): Promise<void> {
    const img = this.image;
    if (img.readOnly) throw new BlockError('EPERM', 'Block node is read-only');
    const h = img.header;
    const saved = [h.backingFile, h.backingFormat] as const;
    h.backingFile = backingFile === '' ? undefined : backingFile;
    h.backingFormat = h.backingFile === undefined ? undefined : backingFormat;
    try {
      if (h.serialize().length > img.clusterSize) throw new BlockError('ENOSPC');
      await img.writeHeader();
    } catch (err) {
      [h.backingFile, h.backingFormat] = saved;
      throw err;
    }
  }

  /** The image holds persistent dirty bitmaps. */
  hasBitmaps(): boolean {
    return this.image.bitmaps.list.length > 0;
  }

  /** Persistent dirty bitmaps: list, bits, and qemu-img bitmap's operations (stored at close). */
  get bitmaps(): Qcow2Bitmaps {
    return this.image.bitmaps;
  }

  /** `force`: LUKS keyslot changes QEMU refuses without it. Checks and progress: amend.ts. */
  async amendImage(options: Record<string, string>, force: boolean, status?: (done: number, total: number) => void): Promise<void> {
    await this.amend(options, status, force);
  }

  readonly truncateZeroWrite = true;

  /** Grow, or shrink (the generic layer / tool asks for --shrink); `exact` is implied. */
  async truncate(size: number, _exact: boolean, prealloc: Preallocation, zeroWrite = false): Promise<void> {
    const img = this.image;
    if (img.readOnly) throw new BlockError('EPERM', 'Block node is read-only');
    const old = img.header.size;
    zeroWrite &&= size > old;
    // QEMU fails here, before the size changes: a v2 image has no zero clusters.
    if (zeroWrite && img.header.version < 3) throw new BlockError('ENOTSUP', 'Failed to zero out new clusters: Operation not supported');
    img.beginRequest();
    try {
      await resizeQcow2(img, this.writer, size, prealloc);
      img.bitmaps.resize(size);
      if (zeroWrite) await this.zeroGrownRange(old, size);
    } finally {
      await img.endRequest();
    }
  }

  /**
   * truncate's zeroWrite, as QEMU's qcow2: zero clusters from the first cluster
   * boundary at or after the old end up to the new one, then explicit zeroes
   * for the old end's partial cluster (a data write, with copy-on-write from
   * the backing file for the rest of that cluster). Not a guest write: no
   * dirty bitmap bits.
   */
  private async zeroGrownRange(old: number, size: number): Promise<void> {
    const cs = this.image.clusterSize;
    const zeroStart = Math.ceil(old / cs) * cs;
    if (size > zeroStart) await this.writer.writeZeroes(zeroStart, size - zeroStart, false);
    if (zeroStart > old) {
      const length = Math.min(zeroStart, size) - old;
      await this.writer.write(old, length, [new Uint8Array(length)]);
    }
  }

  /** Writes back dirty metadata in dependency order (refcounts, then L2 tables); block-core then syncs the file. */
  async flush(): Promise<void> {
    // A node without a driver flushes nothing and succeeds (QEMU's bdrv_co_flush).
    if (this.image.unusable) return;
    await this.image.flushPending();
  }

  blockStatus(offset: number, length: number): Promise<BlockStatus> {
    this.checkUsable();
    return this.reader.statusWithHost(offset, length);
  }

  blockStatusNow(offset: number, length: number): BlockStatus | undefined {
    if (this.image.unusable) return undefined;
    return this.reader.statusNow(offset, length);
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
      ...(this.image.encryptInfo !== undefined && { encrypted: true }),
      formatSpecific: { type: 'qcow2', data: formatSpecificData(this.image) },
    };
  }

  async close(): Promise<void> {
    await this.image.close();
  }

  private checkRange(offset: number, length: number): void {
    this.checkUsable();
    if (offset + length > this.image.header.size) throw new BlockError('EIO');
  }

  /** After a fatal corruption event QEMU has no driver for the node any more (ENOMEDIUM). */
  private checkUsable(): void {
    if (this.image.unusable) throw new BlockError('ENOMEDIUM');
  }

  private checkWrite(offset: number, length: number): void {
    this.checkUsable();
    if (this.image.readOnly) throw new BlockError('EPERM', 'Block node is read-only');
    if ((this.image.header.incompatibleFeatures & INCOMPAT_CORRUPT) !== 0n) throw new BlockError('EIO');
    this.checkRange(offset, length);
  }
}

/** qemu-img info's "Format specific information": QEMU 7.2's keys, in its (QDict) order. */
export function formatSpecificData(img: Qcow2Image): Record<string, unknown> {
  const h = img.header;
  const data: Record<string, unknown> = {
    compat: h.version < 3 ? '0.10' : '1.1',
    'compression-type': h.compressionType === 0 ? 'zlib' : 'zstd',
    'refcount-bits': 2 ** h.refcountOrder,
  };
  if (img.encryptInfo !== undefined) data.encrypt = img.encryptInfo;
  if (h.version >= 3) {
    data['lazy-refcounts'] = (h.compatibleFeatures & COMPAT_LAZY_REFCOUNTS) !== 0n;
    const bitmaps = img.bitmaps.list.map((b) => ({
      flags: [...(b.inconsistent ? ['in-use'] : []), ...(b.auto ? ['auto'] : [])],
      name: b.name,
      granularity: 2 ** b.granularityBits,
    }));
    if (bitmaps.length > 0) data.bitmaps = bitmaps;
    const dataFile = h.unknownExtensions.find((e) => e.type === EXT_DATA_FILE);
    if (dataFile !== undefined) data['data-file'] = new TextDecoder().decode(dataFile.data);
    if ((h.incompatibleFeatures & INCOMPAT_DATA_FILE) !== 0n) data['data-file-raw'] = (h.autoclearFeatures & AUTOCLEAR_DATA_FILE_RAW) !== 0n;
    data.corrupt = (h.incompatibleFeatures & INCOMPAT_CORRUPT) !== 0n;
    data['extended-l2'] = (h.incompatibleFeatures & INCOMPAT_EXTL2) !== 0n;
  }
  const ordered: Record<string, unknown> = {};
  for (const k of qdictOrder(Object.keys(data))) ordered[k] = data[k];
  return ordered;
}
