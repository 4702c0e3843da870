// On-disk constants of the qcow2 format (QEMU's docs/interop/qcow2.txt).

/** 'QFI\xfb' as a big-endian u32. */
export const QCOW2_MAGIC = 0x514649fb;

export const MIN_CLUSTER_BITS = 9;
export const MAX_CLUSTER_BITS = 21;
export const DEFAULT_CLUSTER_SIZE = 65536;

/** Size of the fixed header of a version 2 image; v3 adds fields up to header_length. */
export const V2_HEADER_LENGTH = 72;
/** The v3 header QEMU 7.2 writes: 104 bytes + compression type byte, padded to 8. */
export const V3_HEADER_LENGTH = 112;

// Incompatible feature bits.
export const INCOMPAT_DIRTY = 1n << 0n;
export const INCOMPAT_CORRUPT = 1n << 1n;
export const INCOMPAT_DATA_FILE = 1n << 2n;
export const INCOMPAT_COMPRESSION = 1n << 3n;
export const INCOMPAT_EXTL2 = 1n << 4n;
export const INCOMPAT_KNOWN = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;

// Compatible feature bits.
export const COMPAT_LAZY_REFCOUNTS = 1n << 0n;

// Autoclear feature bits.
export const AUTOCLEAR_BITMAPS = 1n << 0n;
export const AUTOCLEAR_DATA_FILE_RAW = 1n << 1n;
/** Autoclear bits this driver keeps consistent; others are cleared on a read-write open, as the spec asks. */
export const AUTOCLEAR_KNOWN = AUTOCLEAR_BITMAPS;

// Header extension types.
export const EXT_END = 0x00000000;
export const EXT_BACKING_FORMAT = 0xe2792aca;
export const EXT_FEATURE_TABLE = 0x6803f857;
export const EXT_BITMAPS = 0x23852875;
export const EXT_CRYPTO = 0x0537be77;
export const EXT_DATA_FILE = 0x44415441;

// L1 / L2 entry bits. Offsets are bits 9..55; handled as two u32 halves on the hot path.
/** Bit 63 (COPIED): refcount is exactly 1, the cluster may be written in place. */
export const OFLAG_COPIED_HI = 0x80000000;
/** Bit 62: the cluster is compressed. */
export const OFLAG_COMPRESSED_HI = 0x40000000;
/** Bit 0 of a standard L2 entry (v3): the cluster reads as zeroes. */
export const OFLAG_ZERO_LO = 1;
/** Bits 9..55 of an entry: the host offset (high half keeps bits 32..55). */
export const OFFSET_MASK_HI = 0x00ffffff;
export const OFFSET_MASK_LO = 0xfffffe00;
/** Reserved bits of L1 entries (1..8, 56..62) and standard L2 entries (1..8, 56..61). */
export const L1_RESERVED_LO = 0x000001fe;
export const L1_RESERVED_HI = 0x7f000000;
export const L2_RESERVED_LO = 0x000001fe;
export const L2_RESERVED_HI = 0x3f000000;

/** QEMU's caps, checked before anything is allocated (qcow2.h). */
export const MAX_L1_BYTES = 32 * 1024 * 1024;
export const MAX_REFTABLE_BYTES = 8 * 1024 * 1024;
/** Largest guest-visible size QEMU accepts (QCOW_MAX_... : 2^56 bytes of host offset; virtual size limited by L1). */
export const MAX_HOST_OFFSET = 2 ** 56;

/** The feature name table QEMU 7.2 writes into v3 images (type 0 incompat, 1 compat, 2 autoclear). */
export const FEATURE_NAMES: ReadonlyArray<readonly [number, number, string]> = [
  [0, 0, 'dirty bit'],
  [0, 1, 'corrupt bit'],
  [0, 2, 'external data file'],
  [0, 3, 'compression type'],
  [0, 4, 'extended L2 entries'],
  [1, 0, 'lazy refcounts'],
  [2, 0, 'bitmaps'],
  [2, 1, 'raw external data'],
];
export const FEATURE_ENTRY_SIZE = 48;
