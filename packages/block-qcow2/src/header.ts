// Qcow2Header: the fixed header (v2 and v3) and its extensions, parsed from
// and serialised to the image's first cluster. Validation that needs no other
// I/O lives here, with QEMU's messages; table checks live in validate.ts.
import { BlockError } from '@tsemu/block-core';
import {
  EXT_BACKING_FORMAT, EXT_BITMAPS, EXT_CRYPTO, EXT_END, EXT_FEATURE_TABLE, FEATURE_ENTRY_SIZE, FEATURE_NAMES,
  INCOMPAT_KNOWN, MAX_CLUSTER_BITS, MIN_CLUSTER_BITS, QCOW2_MAGIC, V2_HEADER_LENGTH, V3_HEADER_LENGTH,
} from './constants.js';

export interface Qcow2FeatureName {
  type: number; // 0 incompatible, 1 compatible, 2 autoclear
  bit: number;
  name: string;
}

/** A header extension this driver does not interpret: kept byte for byte. */
export interface Qcow2RawExtension {
  type: number;
  data: Uint8Array;
}

export class Qcow2Header {
  version = 3;
  backingFileOffset = 0;
  backingFileSize = 0;
  clusterBits = 16;
  size = 0;
  cryptMethod = 0;
  l1Size = 0;
  l1TableOffset = 0;
  refcountTableOffset = 0;
  refcountTableClusters = 0;
  nbSnapshots = 0;
  snapshotsOffset = 0;
  incompatibleFeatures = 0n;
  compatibleFeatures = 0n;
  autoclearFeatures = 0n;
  refcountOrder = 4;
  headerLength = V3_HEADER_LENGTH;
  compressionType = 0;

  backingFile: string | undefined;
  backingFormat: string | undefined;
  /** Feature names found in the image (used for the unsupported-feature message). */
  featureNames: Qcow2FeatureName[] = [];
  /** The bitmaps extension's data as found (validated at open, bitmaps.ts); written after the feature table. */
  bitmapsData: Uint8Array | undefined;
  /** Unknown extensions, preserved in their original order when the header is rewritten. */
  unknownExtensions: Qcow2RawExtension[] = [];

  get clusterSize(): number {
    return 2 ** this.clusterBits;
  }

  /** Reads the magic and version only: enough for probing. */
  static probe(buf: Uint8Array): number {
    if (buf.length < 8) return 0;
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    return dv.getUint32(0) === QCOW2_MAGIC && dv.getUint32(4) >= 2 ? 100 : 0;
  }

  /**
   * Parses the header from `buf`, which holds the start of the image (at
   * least the first cluster, or the whole file if it is shorter).
   */
  static parse(buf: Uint8Array): Qcow2Header {
    if (buf.length < V2_HEADER_LENGTH) throw invalid('Image is not in qcow2 format');
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    if (dv.getUint32(0) !== QCOW2_MAGIC) throw invalid('Image is not in qcow2 format');
    const h = new Qcow2Header();
    h.version = dv.getUint32(4);
    if (h.version < 2 || h.version > 3) {
      throw new BlockError('ENOTSUP', `Unsupported qcow2 version ${h.version}`);
    }
    h.backingFileOffset = u64(dv, 8, 'Invalid backing file offset');
    h.backingFileSize = dv.getUint32(16);
    h.clusterBits = dv.getUint32(20);
    if (h.clusterBits < MIN_CLUSTER_BITS || h.clusterBits > MAX_CLUSTER_BITS) {
      throw invalid(`Unsupported cluster size: 2^${h.clusterBits}`);
    }
    h.size = u64(dv, 24, 'Image is too large');
    h.cryptMethod = dv.getUint32(32);
    h.l1Size = dv.getUint32(36);
    h.l1TableOffset = u64(dv, 40, 'Active L1 table offset invalid');
    h.refcountTableOffset = u64(dv, 48, 'Reference count table offset invalid');
    h.refcountTableClusters = dv.getUint32(56);
    h.nbSnapshots = dv.getUint32(60);
    h.snapshotsOffset = u64(dv, 64, 'Snapshot table offset invalid');
    if (h.version === 2) {
      h.headerLength = V2_HEADER_LENGTH;
      h.refcountOrder = 4;
    } else {
      if (buf.length < 104) throw invalid('qcow2 header too short');
      h.incompatibleFeatures = dv.getBigUint64(72);
      h.compatibleFeatures = dv.getBigUint64(80);
      h.autoclearFeatures = dv.getBigUint64(88);
      h.refcountOrder = dv.getUint32(96);
      h.headerLength = dv.getUint32(100);
      if (h.headerLength < 104) throw invalid('qcow2 header too short');
      if (h.headerLength > h.clusterSize) throw invalid('qcow2 header exceeds cluster size');
      if (h.headerLength > 104) {
        if (buf.length < 105) throw invalid('qcow2 header too short');
        h.compressionType = buf[104]!;
      }
    }
    if (h.backingFileOffset > h.clusterSize) throw invalid('Invalid backing file offset');
    h.parseExtensions(buf, dv);
    h.checkIncompatible();
    if (h.refcountOrder > 6) {
      throw invalid('Reference count entry width too large; may not exceed 64 bits');
    }
    if (h.backingFileOffset) {
      if (h.backingFileSize > 1023 || h.backingFileOffset + h.backingFileSize > h.clusterSize) {
        throw invalid('Backing file name too long');
      }
      if (h.backingFileOffset + h.backingFileSize > buf.length) throw invalid('Backing file name too long');
      h.backingFile = new TextDecoder().decode(buf.subarray(h.backingFileOffset, h.backingFileOffset + h.backingFileSize));
    }
    return h;
  }

  private parseExtensions(buf: Uint8Array, dv: DataView): void {
    // v2 images may carry extensions right after the 72-byte header too.
    let off = this.headerLength;
    const end = this.backingFileOffset ? Math.min(this.backingFileOffset, buf.length) : Math.min(this.clusterSize, buf.length);
    while (off + 8 <= end) {
      const type = dv.getUint32(off);
      const len = dv.getUint32(off + 4);
      off += 8;
      if (type === EXT_END) return;
      if (len > end - off) throw invalid('qcow2_read_extension: ERROR: Invalid extension length');
      const data = buf.subarray(off, off + len);
      if (type === EXT_BACKING_FORMAT) {
        if (len > 1023) throw invalid(`ERROR: ext_backing_format: len=${len} too large (>=1023)`);
        this.backingFormat = new TextDecoder().decode(data);
      } else if (type === EXT_FEATURE_TABLE) {
        for (let i = 0; i + FEATURE_ENTRY_SIZE <= len; i += FEATURE_ENTRY_SIZE) {
          const nameBytes = data.subarray(i + 2, i + FEATURE_ENTRY_SIZE);
          const nul = nameBytes.indexOf(0);
          const name = new TextDecoder().decode(nul >= 0 ? nameBytes.subarray(0, nul) : nameBytes);
          this.featureNames.push({ type: data[i]!, bit: data[i + 1]!, name });
        }
      } else if (type === EXT_BITMAPS) {
        this.bitmapsData = data.slice();
      } else {
        this.unknownExtensions.push({ type, data: data.slice() });
      }
      off += (len + 7) & ~7;
    }
  }

  /** Unknown incompatible bits: refuse, naming them from the image's own table as QEMU does. */
  private checkIncompatible(): void {
    let mask = this.incompatibleFeatures & ~INCOMPAT_KNOWN;
    if (mask === 0n) return;
    const parts: string[] = [];
    for (const f of this.featureNames) {
      if (f.type !== 0 || f.bit > 63) continue;
      const bit = 1n << BigInt(f.bit);
      if (mask & bit) {
        parts.push(f.name);
        mask &= ~bit;
      }
    }
    if (mask) parts.push(`Unknown incompatible feature: ${mask.toString(16)}`);
    throw new BlockError('ENOTSUP', `Unsupported qcow2 feature(s): ${parts.join(', ')}`);
  }

  /**
   * Serialises header, extensions and backing file name into one buffer of
   * `clusterSize` bytes (the whole first cluster). Throws if it does not fit.
   */
  serialize(): Uint8Array {
    const cs = this.clusterSize;
    const buf = new Uint8Array(cs);
    const dv = new DataView(buf.buffer);
    const headerLength = this.version === 2 ? V2_HEADER_LENGTH : this.headerLength;
    dv.setUint32(0, QCOW2_MAGIC);
    dv.setUint32(4, this.version);
    dv.setUint32(20, this.clusterBits);
    dv.setBigUint64(24, BigInt(this.size));
    dv.setUint32(32, this.cryptMethod);
    dv.setUint32(36, this.l1Size);
    dv.setBigUint64(40, BigInt(this.l1TableOffset));
    dv.setBigUint64(48, BigInt(this.refcountTableOffset));
    dv.setUint32(56, this.refcountTableClusters);
    dv.setUint32(60, this.nbSnapshots);
    dv.setBigUint64(64, BigInt(this.snapshotsOffset));
    if (this.version >= 3) {
      dv.setBigUint64(72, this.incompatibleFeatures);
      dv.setBigUint64(80, this.compatibleFeatures);
      dv.setBigUint64(88, this.autoclearFeatures);
      dv.setUint32(96, this.refcountOrder);
      dv.setUint32(100, headerLength);
      if (headerLength > 104) buf[104] = this.compressionType;
    }
    let off = headerLength;
    const put = (type: number, data: Uint8Array): void => {
      const padded = (data.length + 7) & ~7;
      if (off + 8 + padded > cs) throw new BlockError('ENOSPC', 'Header extensions do not fit in the first cluster');
      dv.setUint32(off, type);
      dv.setUint32(off + 4, data.length);
      buf.set(data, off + 8);
      off += 8 + padded;
    };
    if (this.backingFormat !== undefined) put(EXT_BACKING_FORMAT, new TextEncoder().encode(this.backingFormat));
    // The crypto header pointer comes next in QEMU's order, whether tsemu made it or found it.
    for (const ext of this.unknownExtensions) if (ext.type === EXT_CRYPTO) put(ext.type, ext.data);
    // QEMU 7.2 writes its feature name table into v3 images with clusters of 8 KiB or more only.
    if (this.version >= 3 && cs >= 8192) put(EXT_FEATURE_TABLE, featureTable());
    if (this.bitmapsData !== undefined) put(EXT_BITMAPS, this.bitmapsData);
    for (const ext of this.unknownExtensions) if (ext.type !== EXT_CRYPTO) put(ext.type, ext.data);
    off += 8; // end-of-extensions marker (zeroes)
    if (this.backingFile !== undefined) {
      const name = new TextEncoder().encode(this.backingFile);
      if (name.length > 1023 || off + name.length > cs) throw new BlockError('EINVAL', 'Backing file name too long');
      buf.set(name, off);
      this.backingFileOffset = off;
      this.backingFileSize = name.length;
      off += name.length;
    } else {
      this.backingFileOffset = 0;
      this.backingFileSize = 0;
    }
    dv.setBigUint64(8, BigInt(this.backingFileOffset));
    dv.setUint32(16, this.backingFileSize);
    return buf.subarray(0, Math.max(off, headerLength));
  }
}

function featureTable(): Uint8Array {
  const t = new Uint8Array(FEATURE_NAMES.length * FEATURE_ENTRY_SIZE);
  FEATURE_NAMES.forEach(([type, bit, name], i) => {
    t[i * FEATURE_ENTRY_SIZE] = type;
    t[i * FEATURE_ENTRY_SIZE + 1] = bit;
    t.set(new TextEncoder().encode(name), i * FEATURE_ENTRY_SIZE + 2);
  });
  return t;
}

function invalid(message: string): BlockError {
  return new BlockError('EINVAL', message);
}

/** A u64 header field as a number; values past 2^53 cannot be real offsets here. */
function u64(dv: DataView, at: number, message: string): number {
  const v = dv.getBigUint64(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(message);
  return Number(v);
}
