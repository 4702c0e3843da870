// qemu-img amend for qcow2: compat (0.10 <-> 1.1, zero clusters expanded on
// a downgrade), refcount_bits (refcount-order.ts), lazy_refcounts, size. In
// QEMU 7.2's order (upgrade, refcount width, lazy refcounts, size, downgrade
// last), with its checks at the same points and its progress reports.
import { BlockError, cIntOption, parseBool } from '@tsemu/block-core';
import { amendKeyslots, keyslotAmendOptions } from '@tsemu/block-luks';
import { COMPRESSION_ZLIB, COMPRESSION_ZSTD } from './compressed.js';
import {
  COMPAT_LAZY_REFCOUNTS, INCOMPAT_COMPRESSION, OFFSET_MASK_HI, OFFSET_MASK_LO, OFLAG_COMPRESSED_HI, OFLAG_COPIED_HI, OFLAG_ZERO_LO, V3_HEADER_LENGTH,
} from './constants.js';
import { QCOW2_AMEND_OPTIONS } from './create-options.js';
import { cryptoExtension } from './luks-info.js';
import type { Qcow2Image } from './image.js';
import { changeRefcountOrder, type OperationStatus } from './refcount-order.js';
import { resizeQcow2 } from './resize.js';
import { readSnapshotTable } from './snapshot-table.js';
import type { Qcow2Writer } from './write-path.js';

const CREATE_ONLY = ['cluster_size', 'preallocation', 'compression_type', 'extended_l2'];
/** What amend takes (QEMU's amend list: the encrypt.* keyslot options, then the image's). */
const AMENDABLE = QCOW2_AMEND_OPTIONS.map((o) => o.name);

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
  img: Qcow2Image, writer: Qcow2Writer, options: Record<string, string>, status?: OperationStatus, force = false,
): Promise<void> {
  const h = img.header;
  // QEMU checks the LUKS keyslot options first (its amend list starts with them).
  const encryption = Object.keys(options).some((k) => k.startsWith('encrypt.'));
  if (encryption) {
    if (img.crypto === undefined) throw new BlockError('EINVAL', "Can't amend encryption options - encryption not present");
    if (h.cryptMethod !== 2) throw new BlockError('ENOTSUP', 'Only LUKS encryption options can be amended');
  }
  for (const key of Object.keys(options)) {
    if (CREATE_ONLY.includes(key)) {
      throw new BlockError('EINVAL', `Invalid parameter '${key}'\nThis option is only supported for image creation`);
    }
    if (!AMENDABLE.includes(key)) throw new BlockError('EINVAL', `Invalid parameter '${key}'`);
  }
  // The key slots change before anything else (in the crypto header's clusters).
  if (encryption) await amendQcow2Keyslots(img, options, force);
  // QEMU goes through its amend list in order (size, compat, backing, data file, lazy_refcounts, refcount_bits)
  // and changes the backing file, if asked, after all of them.
  let version = h.version;
  if (options.compat !== undefined) {
    if (options.compat === '0.10' || options.compat === 'v2') version = 2;
    else if (options.compat === '1.1' || options.compat === 'v3') version = 3;
    else throw new BlockError('EINVAL', `Unknown compatibility level ${options.compat}`);
  }
  // tsemu opens no image with an external data file, so neither can be set.
  if (options.data_file !== undefined) {
    throw new BlockError('EINVAL', 'data-file can only be set for images that use an external data file');
  }
  if (parseBool('data_file_raw', options.data_file_raw, false)) {
    throw new BlockError('EINVAL', 'data-file-raw cannot be set on existing images');
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
  const backingFile = options.backing_file, backingFormat = options.backing_fmt;
  if ((backingFile !== undefined || backingFormat !== undefined) && (backingFile !== h.backingFile || backingFormat !== h.backingFormat)) {
    throw new BlockError('ENOTSUP', "Cannot amend the backing file\nYou can use 'qemu-img rebase' instead.");
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
  if (h.compressionType === COMPRESSION_ZSTD) {
    // A v2 header has no compression type: zlib it is, if no cluster was compressed with zstd.
    // QEMU 7.2 looks at the active tables only and so downgrades images whose
    // snapshots hold zstd clusters (they then fail to read); tsemu refuses those too.
    if (await hasCompressedClusters(img)) {
      throw new BlockError('ENOTSUP', 'Cannot downgrade an image with zstd compression type and existing compressed clusters');
    }
    h.compressionType = COMPRESSION_ZLIB;
    h.incompatibleFeatures &= ~INCOMPAT_COMPRESSION;
  }
  // Zero clusters over a backing file become written zeroes, which would have to be enciphered: not done.
  if (img.crypto !== undefined && (img.backing !== undefined || h.backingFile !== undefined)) {
    throw new BlockError('ENOTSUP', 'qcow2: downgrading an encrypted image with a backing file is not supported');
  }
  if (h.incompatibleFeatures !== 0n) {
    throw new BlockError('ENOTSUP', `Cannot downgrade an image with incompatible features 0x${h.incompatibleFeatures.toString(16)} set`);
  }
  await img.flushPending();
  await img.lockedWriteThrough(async () => {
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

/**
 * The downgrade of zero clusters, in every L1 table: the active one, then
 * each snapshot's, as QEMU does it. A zero cluster with a host cluster gets
 * zeroes written there; one without becomes unallocated when there is no
 * backing file (it reads as zeroes then), else it gets a new zeroed cluster
 * whose refcount is the L2 table's (every table sharing that L2 points
 * there). COPIED when the L2 table's refcount is 1.
 *
 * One departure: a host cluster that other L2 tables still use as data (its
 * refcount above the table's; a snapshot taken before the zero write) is let
 * go, not zeroed. qemu-img 7.2 zeroes it, which changes the snapshot's
 * content (and marks the entry COPIED at refcount 2, which its own check
 * reports as corruption).
 */
async function expandZeroClusters(img: Qcow2Image): Promise<void> {
  const map = img.map;
  for (let i = 0; i < map.l1Size; i++) {
    const t = await map.table(i);
    if (t !== undefined) await expandTable(img, t.dv, t.offset, (j, hi, lo) => map.setL2Raw(t, j, hi, lo));
  }
  // Tables of the active L1 are done (written through); the snapshots' are read and written here.
  for await (const { l2, table, dv } of snapshotL2Tables(img)) {
    let changed = false;
    await expandTable(img, dv, l2, async (j, hi, lo) => {
      dv.setUint32(j * 8, hi);
      dv.setUint32(j * 8 + 4, lo);
      changed = true;
    });
    if (changed) await img.file.write(l2, table);
  }
}

/** Every L2 table the snapshots' L1 tables name, read in turn into one buffer (`l2`: its host offset). */
async function* snapshotL2Tables(img: Qcow2Image): AsyncGenerator<{ l2: number; table: Uint8Array; dv: DataView }> {
  const h = img.header;
  if (h.nbSnapshots === 0) return;
  const table = new Uint8Array(img.clusterSize);
  const dv = new DataView(table.buffer);
  for (const s of (await readSnapshotTable(img.file, h.snapshotsOffset, h.nbSnapshots)).snapshots) {
    const l1 = new Uint8Array(s.l1Size * 8);
    await img.file.read(s.l1Offset, l1);
    const ldv = new DataView(l1.buffer);
    for (let i = 0; i < s.l1Size; i++) {
      const l2 = (ldv.getUint32(i * 8) & OFFSET_MASK_HI) * 4294967296 + ((ldv.getUint32(i * 8 + 4) & OFFSET_MASK_LO) >>> 0);
      if (l2 === 0) continue;
      await img.file.read(l2, table);
      yield { l2, table, dv };
    }
  }
}

/** Whether an L2 table of the active L1 or of a snapshot's holds a compressed cluster. */
async function hasCompressedClusters(img: Qcow2Image): Promise<boolean> {
  const map = img.map;
  const stride = map.extendedL2 ? 16 : 8;
  const compressedIn = (dv: DataView): boolean => {
    for (let j = 0; j < dv.byteLength; j += stride) if ((dv.getUint32(j) & OFLAG_COMPRESSED_HI) !== 0) return true;
    return false;
  };
  for (let i = 0; i < map.l1Size; i++) {
    const t = await map.table(i);
    if (t !== undefined && compressedIn(t.dv)) return true;
  }
  for await (const { dv } of snapshotL2Tables(img)) if (compressedIn(dv)) return true;
  return false;
}

/** Expands the zero entries of one L2 table (`dv`, at host offset `l2`); `set` stores an entry. */
async function expandTable(
  img: Qcow2Image, dv: DataView, l2: number, set: (index: number, hi: number, lo: number) => Promise<void>,
): Promise<void> {
  const cs = img.clusterSize;
  const hasBacking = img.backing !== undefined || img.header.backingFile !== undefined;
  const l2Refcount = await img.refcounts.get(l2 / cs);
  let zero: Uint8Array | undefined;
  for (let j = 0; j < cs / 8; j++) {
    const hi = dv.getUint32(j * 8);
    const lo = dv.getUint32(j * 8 + 4);
    if ((hi & OFLAG_COMPRESSED_HI) !== 0 || (lo & OFLAG_ZERO_LO) === 0) continue;
    let host = (hi & OFFSET_MASK_HI) * 4294967296 + ((lo & OFFSET_MASK_LO) >>> 0);
    let release = 0;
    if (host !== 0 && (await img.refcounts.get(host / cs)) > l2Refcount) {
      release = host; // still another table's data: this entry's references go once it points elsewhere
      host = 0;
    }
    if (host === 0) {
      if (!hasBacking) {
        await set(j, 0, 0);
        if (release !== 0) await img.refcounts.update(release / cs, 1, -l2Refcount);
        continue;
      }
      host = await img.refcounts.allocate(1);
      if (l2Refcount > 1) await img.refcounts.update(host / cs, 1, l2Refcount - 1);
    }
    zero ??= new Uint8Array(cs);
    await img.file.write(host, zero);
    const copied = l2Refcount === 1 ? OFLAG_COPIED_HI : 0;
    await set(j, (copied | Math.floor(host / 4294967296)) >>> 0, host >>> 0);
    if (release !== 0) await img.refcounts.update(release / cs, 1, -l2Refcount);
  }
}

/** encrypt.state=... on a LUKS-encrypted image: the key slots in the crypto header extension's clusters. */
async function amendQcow2Keyslots(img: Qcow2Image, options: Record<string, string>, force: boolean): Promise<void> {
  const crypto = img.crypto!;
  const ext = cryptoExtension(img.header);
  const inside = (offset: number, length: number): void => {
    if (offset + length > ext.length) throw new BlockError('EINVAL', 'Request for data outside of extension header');
  };
  await amendKeyslots({
    read: async (offset, length) => {
      inside(offset, length);
      const b = new Uint8Array(length);
      await img.file.read(ext.offset + offset, b);
      return b;
    },
    write: (offset, data) => { inside(offset, data.length); return img.file.write(ext.offset + offset, data); },
  }, keyslotAmendOptions(options, 'encrypt.'), crypto.passphrase!, crypto.secret ?? (() => undefined), force);
}
