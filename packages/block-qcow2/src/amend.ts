// qemu-img amend for qcow2: compat (0.10 <-> 1.1, zero clusters expanded on
// a downgrade), refcount_bits (refcount-order.ts), lazy_refcounts, size. In
// QEMU 7.2's order (upgrade, refcount width, lazy refcounts, size, downgrade
// last), with its checks at the same points and its progress reports.
import { BlockError, cIntOption } from '@tsemu/block-core';
import { ClusterType, Qcow2Extent } from './cluster-map.js';
import {
  COMPAT_LAZY_REFCOUNTS, OFFSET_MASK_HI, OFFSET_MASK_LO, OFLAG_COMPRESSED_HI, OFLAG_COPIED_HI, OFLAG_ZERO_LO, V3_HEADER_LENGTH,
} from './constants.js';
import type { Qcow2Image } from './image.js';
import { changeRefcountOrder, type OperationStatus } from './refcount-order.js';
import { resizeQcow2 } from './resize.js';
import { readSnapshotTable } from './snapshot-table.js';
import type { Qcow2Writer } from './write-path.js';

const CREATE_ONLY = ['cluster_size', 'preallocation', 'compression_type', 'extended_l2', 'data_file_raw'];

/**
 * QEMU's qcow2_amend_helper_cb: folds the progress of several operations
 * into one (done, total) pair, projecting the operations not yet started
 * from the work seen so far (integer arithmetic, as in C).
 */
class AmendProgress {
  private completed = 0;
  private offsetCompleted = 0;
  private lastOp = 0;
  private lastWork = 0;

  constructor(private readonly out: OperationStatus | undefined, private readonly totalOps: number) {}

  /** The status callback of operation number `op` (1-based, in QEMU's order). */
  op(op: number): OperationStatus {
    return (done, work) => {
      if (this.out === undefined) return;
      if (op !== this.lastOp) {
        if (this.lastOp !== 0) {
          this.offsetCompleted += this.lastWork;
          this.completed++;
        }
        this.lastOp = op;
      }
      this.lastWork = work;
      const current = this.offsetCompleted + work;
      const projected = Math.floor((current * (this.totalOps - this.completed - 1)) / (this.completed + 1));
      this.out(this.offsetCompleted + done, current + projected);
    };
  }
}

const OP_UPGRADE = 1;
const OP_REFCOUNT = 2;
const OP_DOWNGRADE = 3;

export async function amendQcow2(
  img: Qcow2Image, writer: Qcow2Writer, options: Record<string, string>, status?: OperationStatus,
): Promise<void> {
  const h = img.header;
  for (const key of Object.keys(options)) {
    if (CREATE_ONLY.includes(key)) {
      throw new BlockError('EINVAL', `Invalid parameter '${key}'\nThis option is only supported for image creation`);
    }
    if (key === 'backing_file' || key === 'backing_fmt') {
      throw new BlockError('ENOTSUP', "Cannot amend the backing file\nYou can use 'qemu-img rebase' instead.");
    }
    if (!['compat', 'lazy_refcounts', 'refcount_bits', 'size'].includes(key)) {
      throw new BlockError('EINVAL', `Invalid parameter '${key}'`);
    }
  }
  let version = h.version;
  if (options.compat !== undefined) {
    if (options.compat === '0.10' || options.compat === 'v2') version = 2;
    else if (options.compat === '1.1' || options.compat === 'v3') version = 3;
    else throw new BlockError('EINVAL', `Unknown compatibility level ${options.compat}`);
  }
  let lazy = img.lazyRefcounts;
  if (options.lazy_refcounts !== undefined) {
    if (options.lazy_refcounts !== 'on' && options.lazy_refcounts !== 'off') {
      throw new BlockError('EINVAL', "Parameter 'lazy_refcounts' expects 'on' or 'off'");
    }
    lazy = options.lazy_refcounts === 'on';
  }
  let refcountBits = 2 ** h.refcountOrder;
  if (options.refcount_bits !== undefined) {
    try {
      refcountBits = cIntOption('refcount_bits', options.refcount_bits);
    } catch (err) {
      throw new BlockError('EINVAL', (err as Error).message);
    }
  }
  if (refcountBits < 1 || refcountBits > 64 || (refcountBits & (refcountBits - 1)) !== 0) {
    throw new BlockError('EINVAL', 'Refcount width must be a power of two and may not exceed 64 bits');
  }
  let newSize: number | undefined;
  if (options.size !== undefined) {
    newSize = Number(options.size);
    if (!Number.isSafeInteger(newSize) || newSize < 0) throw new BlockError('EINVAL', 'Invalid image size specified');
  }
  const changeWidth = refcountBits !== 2 ** h.refcountOrder;
  const progress = new AmendProgress(status, (version !== h.version ? 1 : 0) + (changeWidth ? 1 : 0));
  if (version > h.version) {
    const up = progress.op(OP_UPGRADE);
    up(0, 2);
    up(1, 2);
    h.version = 3;
    h.headerLength = V3_HEADER_LENGTH;
    await img.writeHeader();
    up(2, 2);
  }
  if (changeWidth) {
    if (version < 3 && refcountBits !== 16) {
      throw new BlockError('EINVAL', 'Refcount widths other than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)');
    }
    await img.flushPending();
    await img.lockedWriteThrough(() => changeRefcountOrder(img, Math.log2(refcountBits), progress.op(OP_REFCOUNT)));
  }
  if (lazy !== img.lazyRefcounts) {
    if (lazy && version < 3) {
      throw new BlockError('EINVAL', 'Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)');
    }
    if (!lazy && img.isDirty) {
      // Turning lazy refcounts off: every refcount written and stable, then clean (as QEMU).
      await img.flushPending();
      await img.lockedWriteThrough(() => img.markClean());
    }
    h.compatibleFeatures = (h.compatibleFeatures & ~COMPAT_LAZY_REFCOUNTS) | (lazy ? COMPAT_LAZY_REFCOUNTS : 0n);
    await img.writeHeader();
    img.lazyRefcounts = lazy;
  }
  if (newSize !== undefined && newSize !== h.size) await resizeQcow2(img, writer, newSize, 'off');
  if (version < h.version) await downgrade(img, progress.op(OP_DOWNGRADE));
}

/** compat=1.1 -> 0.10: no incompatible features, zero clusters expanded, v2 header. */
async function downgrade(img: Qcow2Image, status: OperationStatus): Promise<void> {
  const h = img.header;
  if (h.refcountOrder !== 4) throw new BlockError('ENOTSUP', 'compat=0.10 requires refcount_bits=16');
  if (img.isDirty) {
    await img.flushPending();
    await img.lockedWriteThrough(() => img.markClean());
  }
  if (h.incompatibleFeatures !== 0n) {
    throw new BlockError('ENOTSUP', `Cannot downgrade an image with incompatible features 0x${h.incompatibleFeatures.toString(16)} set`);
  }
  await img.flushPending();
  await img.lockedWriteThrough(async () => {
    await refuseZeroInSnapshots(img);
    await expandZeroClusters(img);
  });
  // QEMU reports once per L1 entry, the active table's, then each snapshot's.
  let steps = img.map.l1Size;
  if (h.nbSnapshots > 0) {
    for (const s of (await readSnapshotTable(img.file, h.snapshotsOffset, h.nbSnapshots)).snapshots) steps += s.l1Size;
  }
  for (let k = 1; k <= steps; k++) status(k, steps);
  h.version = 2;
  h.compatibleFeatures = 0n;
  h.autoclearFeatures = 0n;
  h.headerLength = 72;
  await img.writeHeader();
  await img.file.flush();
}

async function refuseZeroInSnapshots(img: Qcow2Image): Promise<void> {
  const h = img.header;
  if (h.nbSnapshots === 0) return;
  const cs = img.clusterSize;
  const { snapshots } = await readSnapshotTable(img.file, h.snapshotsOffset, h.nbSnapshots);
  const table = new Uint8Array(cs);
  const dv = new DataView(table.buffer);
  for (const s of snapshots) {
    const l1 = new Uint8Array(s.l1Size * 8);
    await img.file.read(s.l1Offset, l1);
    const ldv = new DataView(l1.buffer);
    for (let i = 0; i < s.l1Size; i++) {
      const l2 = (ldv.getUint32(i * 8) & OFFSET_MASK_HI) * 4294967296 + ((ldv.getUint32(i * 8 + 4) & OFFSET_MASK_LO) >>> 0);
      if (l2 === 0) continue;
      await img.file.read(l2, table);
      for (let j = 0; j < cs / 8; j++) {
        if ((dv.getUint32(j * 8) & OFLAG_COMPRESSED_HI) === 0 && (dv.getUint32(j * 8 + 4) & OFLAG_ZERO_LO) !== 0) {
          throw new BlockError('ENOTSUP', 'qcow2: downgrading an image with zero clusters in snapshots is not supported yet');
        }
      }
    }
  }
}

/** Active zero clusters: plain ones become unallocated (or zeroed data over a backing file), allocated ones are zeroed. */
async function expandZeroClusters(img: Qcow2Image): Promise<void> {
  const map = img.map;
  const cs = img.clusterSize;
  const ext = new Qcow2Extent();
  const zero = new Uint8Array(cs);
  const hasBacking = img.backing !== undefined || img.header.backingFile !== undefined;
  const end = map.l1Size * map.l2Entries * cs;
  const perTable = cs * map.l2Entries;
  for (let off = 0; off < Math.min(end, Math.ceil(img.header.size / cs) * cs); off += cs) {
    if (off % perTable === 0 && map.l2Offset(off / perTable) === 0) {
      off += perTable - cs; // no L2 table: nothing to expand in this range
      continue;
    }
    await map.lookup(off, cs, ext);
    if (ext.type !== ClusterType.ZeroPlain && ext.type !== ClusterType.ZeroAlloc) continue;
    if (!map.l1Copied(Math.floor(off / (cs * map.l2Entries)))) {
      throw new BlockError('ENOTSUP', 'qcow2: downgrading an image with zero clusters in shared L2 tables is not supported yet');
    }
    let host = ext.type === ClusterType.ZeroAlloc ? ext.host - (ext.host % cs) : 0;
    if (host === 0 && hasBacking) host = await img.refcounts.allocate(1);
    if (host !== 0) await img.file.write(host, zero);
    const copied = ext.type === ClusterType.ZeroPlain ? OFLAG_COPIED_HI : ext.copied ? OFLAG_COPIED_HI : 0;
    const hi = host === 0 ? 0 : (copied | Math.floor(host / 4294967296)) >>> 0;
    await map.setL2Raw(ext.table!, ext.index, hi, host >>> 0);
  }
}
