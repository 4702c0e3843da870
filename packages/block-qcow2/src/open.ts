// Opening an image: header, feature checks, table validation (before any
// table is allocated, so hostile sizes cost nothing), then the in-memory L1
// and refcount table. Independent of OpenContext so tests can drive it over
// any Qcow2FileNode.
import { BlockError, type SecretLookup } from '@tsemu/block-core';
import {
  COMPAT_LAZY_REFCOUNTS, INCOMPAT_COMPRESSION, INCOMPAT_CORRUPT, INCOMPAT_DATA_FILE, INCOMPAT_DIRTY, INCOMPAT_EXTL2,
  AUTOCLEAR_KNOWN, MAX_L1_BYTES, MAX_REFTABLE_BYTES,
} from './constants.js';
import { repairDirtyImage } from './check.js';
import { Qcow2ClusterMap } from './cluster-map.js';
import { Qcow2Header } from './header.js';
import { Qcow2HostFile, type Qcow2FileNode } from './host-file.js';
import { Qcow2Image, type Qcow2DiscardPassthrough } from './image.js';
import { openCrypto } from './encryption.js';
import { luksInfo, readLuksHeader } from './luks-info.js';
import { Qcow2RefcountTable } from './refcount-table.js';
import { readSnapshotTable } from './snapshot-table.js';

export interface Qcow2OpenOptions {
  readOnly: boolean;
  /** l2-cache-size in bytes (QEMU's option); default covers the image up to 32 MiB of tables. */
  l2CacheBytes?: number;
  /** The `lazy-refcounts` open option; default: the header's lazy refcounts bit. */
  lazyRefcounts?: boolean;
  /** Opened by check (BDRV_O_CHECK): a dirty image is left for the check to report and repair. */
  forCheck?: boolean;
  /**
   * The host file and header the caller has just read (the driver reads the
   * header first for the backing name): not read a second time.
   */
  opened?: { file: Qcow2HostFile; header: Qcow2Header };
  /** Open-time warnings (OpenContext.warnReport); undefined: process.stderr. */
  warn?: (text: string) => void;
  /** Which freed clusters are discarded in the file (QEMU's discard_passthrough); default: none. */
  passDiscard?: Qcow2DiscardPassthrough;
  /** Opened by qemu-img info (BDRV_O_NO_IO): an encrypted image or one with an external data file opens, for its metadata only. */
  noIo?: boolean;
  /** encrypt.key-secret: the id of the secret holding an encrypted image's passphrase. */
  keySecret?: string;
  /** Where secrets are looked up (OpenContext.secret). */
  secret?: SecretLookup;
}


const MAX_SNAPSHOTS = 65536;
const DEFAULT_L2_CACHE_MAX = 32 * 1024 * 1024;

/** Reads and checks the header; the file must hold at least its first cluster's worth of header. */
export async function readHeader(file: Qcow2HostFile): Promise<Qcow2Header> {
  const first = new Uint8Array(Math.min(4096, Math.max(file.size, 0)));
  await file.read(0, first);
  let header = Qcow2Header.parse(first);
  if (header.clusterSize > first.length && file.size > first.length) {
    const whole = new Uint8Array(Math.min(header.clusterSize, file.size));
    await file.read(0, whole);
    header = Qcow2Header.parse(whole);
  }
  return header;
}

/**
 * Table checks in QEMU's order, with its messages; nothing is allocated yet.
 * `forCheck` (BDRV_O_CHECK): the snapshot table is left to the check, which
 * reports (and with -r all repairs) what open would refuse.
 */
export function validateHeader(h: Qcow2Header, readOnly: boolean, forCheck = false, noIo = false): void {
  const cs = h.clusterSize;
  if ((h.incompatibleFeatures & INCOMPAT_CORRUPT) && !readOnly) {
    throw new BlockError('EACCES', 'qcow2: Image is corrupt; cannot be opened read/write');
  }
  // qemu-img info (no I/O) shows such an image without opening its data file.
  if ((h.incompatibleFeatures & INCOMPAT_DATA_FILE) && !noIo) {
    throw new BlockError('ENOTSUP', 'qcow2: external data files are not supported yet');
  }
  if ((h.incompatibleFeatures & INCOMPAT_EXTL2) && !readOnly) {
    throw new BlockError('ENOTSUP', 'qcow2: writing images with extended L2 entries is not supported yet (open read-only)');
  }
  if ((h.incompatibleFeatures & INCOMPAT_EXTL2) && h.clusterBits < 14) {
    throw new BlockError('EINVAL', 'Extended L2 entries are only supported with cluster sizes of at least 16384 bytes');
  }
  if (h.compressionType > 1) {
    throw new BlockError('ENOTSUP', `qcow2: unknown compression type: ${h.compressionType}`);
  }
  if (h.compressionType === 0 && (h.incompatibleFeatures & INCOMPAT_COMPRESSION)) {
    throw new BlockError('EINVAL', 'qcow2: Compression type incompatible feature bit must not be set');
  }
  if (h.compressionType !== 0 && !(h.incompatibleFeatures & INCOMPAT_COMPRESSION)) {
    throw new BlockError('EINVAL', 'qcow2: Compression type incompatible feature bit must be set');
  }
  if (h.refcountTableClusters > MAX_REFTABLE_BYTES / cs) {
    throw new BlockError('EINVAL', 'Reference count table too large');
  }
  if (h.refcountTableClusters === 0 || !tableOffsetValid(h.refcountTableOffset, h.refcountTableClusters * cs, cs)) {
    throw new BlockError('EINVAL', 'Reference count table offset invalid');
  }
  // QEMU 7.2 validates the snapshot table as any other table (also with no snapshots).
  if (!forCheck && h.nbSnapshots > MAX_SNAPSHOTS) throw new BlockError('EFBIG', 'Snapshot table too large');
  if (!forCheck && h.snapshotsOffset % cs !== 0) throw new BlockError('EINVAL', 'Snapshot table offset invalid');
  if (h.l1Size > MAX_L1_BYTES / 8) throw new BlockError('EFBIG', 'Active L1 table too large');
  const l2Entries = cs / ((h.incompatibleFeatures & INCOMPAT_EXTL2) ? 16 : 8);
  const needed = Math.ceil(h.size / (cs * l2Entries));
  if (needed > 0x7fffffff) throw new BlockError('EFBIG', 'Image is too large');
  if (h.l1Size < needed) throw new BlockError('EINVAL', 'L1 table is too small');
  if (h.l1Size > 0 && !tableOffsetValid(h.l1TableOffset, h.l1Size * 8, cs)) {
    throw new BlockError('EINVAL', 'Active L1 table offset invalid');
  }
  if (h.cryptMethod > 2) throw new BlockError('EINVAL', `Unsupported encryption method ${h.cryptMethod}`);
}

function tableOffsetValid(offset: number, bytes: number, cs: number): boolean {
  return offset % cs === 0 && offset + bytes <= Number.MAX_SAFE_INTEGER && offset + bytes <= 2 ** 56;
}

/** Opens the qcow2 image in `fileNode`; `backing` is the already opened backing node, if any. */
export async function openQcow2Image(
  fileNode: Qcow2FileNode, backing: Qcow2FileNode | undefined, opts: Qcow2OpenOptions,
): Promise<Qcow2Image> {
  const file = opts.opened?.file ?? await Qcow2HostFile.open(fileNode);
  const header = opts.opened?.header ?? await readHeader(file);
  validateHeader(header, opts.readOnly, opts.forCheck === true, opts.noIo === true);
  const img = new Qcow2Image(header, file, backing, opts.readOnly);
  if (header.cryptMethod === 1 || header.cryptMethod === 2) {
    // The LUKS header is checked as QEMU checks it, also when no data will be read.
    const luks = header.cryptMethod === 2 ? await readLuksHeader(file, header) : undefined;
    img.encryptInfo = luks !== undefined ? luksInfo(luks) : { format: 'aes' };
    if (opts.noIo !== true) {
      const id = opts.keySecret ?? '';
      const passphrase = opts.secret?.(id);
      if (passphrase === undefined) throw new BlockError('EINVAL', `No secret with id '${id}'`);
      img.crypto = { ...(await openCrypto(file, header, luks, passphrase)), passphrase, ...(opts.secret && { secret: opts.secret }) };
    }
  }
  if (opts.passDiscard) img.passDiscard = opts.passDiscard;
  if (opts.lazyRefcounts === true && header.version < 3) {
    throw new BlockError('EINVAL', 'Lazy refcounts require a qcow2 image with at least qemu 1.1 compatibility level');
  }
  img.lazyRefcounts = header.version >= 3 && (opts.lazyRefcounts ?? (header.compatibleFeatures & COMPAT_LAZY_REFCOUNTS) !== 0n);
  const cs = header.clusterSize;
  const corrupt = (m: string): BlockError => img.corrupt(m);
  const l2Needed = Math.ceil(header.size / cs) * 8;
  const cacheBytes = opts.l2CacheBytes ?? Math.min(DEFAULT_L2_CACHE_MAX, Math.max(l2Needed, 2 * cs));
  img.map = new Qcow2ClusterMap({
    file, clusterBits: header.clusterBits, l1Offset: header.l1TableOffset, l1Size: header.l1Size,
    l2CacheTables: Math.max(2, Math.floor(cacheBytes / cs)), corrupt,
    extendedL2: (header.incompatibleFeatures & INCOMPAT_EXTL2) !== 0n,
  });
  img.refcounts = new Qcow2RefcountTable({
    file, clusterBits: header.clusterBits, refcountOrder: header.refcountOrder,
    tableOffset: header.refcountTableOffset, tableClusters: header.refcountTableClusters, corrupt,
    moveTable: async (offset, clusters) => {
      header.refcountTableOffset = offset;
      header.refcountTableClusters = clusters;
      const b = new Uint8Array(12);
      const dv = new DataView(b.buffer);
      dv.setBigUint64(0, BigInt(offset));
      dv.setUint32(8, clusters);
      await file.write(48, b);
      await file.flush();
    },
  });
  await img.map.load();
  await img.refcounts.load();
  // QEMU reads the snapshot table at open (not in check mode): what it refuses fails the open.
  if (!opts.forCheck && header.nbSnapshots > 0) await readSnapshotTable(file, header.snapshotsOffset, header.nbSnapshots);
  img.refcounts.onBlockCreated = (off) => img.metadataClusters.add(off / cs);
  for (const off of img.map.l2Offsets()) img.metadataClusters.add(Math.floor(off / cs));
  for (const off of img.refcounts.blockOffsets()) img.metadataClusters.add(Math.floor(off / cs));
  // Bitmaps first: a repair below counts their clusters.
  await img.bitmaps.load(opts.readOnly, opts.warn);
  // A dirty image (lazy refcounts, not closed cleanly) gets its refcounts rebuilt, as QEMU does on open.
  if (!opts.readOnly && !opts.forCheck && (header.incompatibleFeatures & INCOMPAT_DIRTY) !== 0n) await repairDirtyImage(img);
  if (!opts.readOnly && (header.autoclearFeatures & ~AUTOCLEAR_KNOWN) !== 0n) {
    // The spec: a writer that does not know an autoclear bit clears it.
    header.autoclearFeatures &= AUTOCLEAR_KNOWN;
    await img.writeHeader();
  }
  return img;
}
