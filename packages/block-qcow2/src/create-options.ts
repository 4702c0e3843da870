// qcow2 create options: the list (in the order QEMU 7.2 prints them on the
// `Formatting` line) and their validation, with QEMU's messages.
import {
  BlockError, parseBool, parseCInt64, parseCNumber, parseSize, type CreateOptionSpec, type Preallocation, type SecretLookup,
} from '@tsemu/block-core';
import { DEFAULT_CLUSTER_SIZE, MAX_L1_BYTES } from './constants.js';
import { checkEncryptionAlias, encryptionFormat, encryptionSetup, measureEncryption, type Qcow2EncryptionSetup } from './encryption-options.js';

export const QCOW2_CREATE_OPTIONS: CreateOptionSpec[] = [
  { name: 'encryption', type: 'bool', help: "Encrypt the image with format 'aes'. (Deprecated in favor of encrypt.format=aes)" },
  { name: 'encrypt.format', type: 'string', help: "Encrypt the image, format choices: 'aes', 'luks'" },
  { name: 'encrypt.key-secret', type: 'string', help: 'ID of secret providing qcow AES key or LUKS passphrase' },
  // LUKS parameters: listed (help, the Formatting line), checked as qemu-img does, used by create (encryption-options.ts).
  { name: 'encrypt.cipher-alg', type: 'string', help: 'Name of encryption cipher algorithm' },
  { name: 'encrypt.cipher-mode', type: 'string', help: 'Name of encryption cipher mode' },
  { name: 'encrypt.ivgen-alg', type: 'string', help: 'Name of IV generator algorithm' },
  { name: 'encrypt.ivgen-hash-alg', type: 'string', help: 'Name of IV generator hash algorithm' },
  { name: 'encrypt.hash-alg', type: 'string', help: 'Name of encryption hash algorithm' },
  { name: 'encrypt.iter-time', type: 'number', help: 'Time to spend in PBKDF in milliseconds' },
  { name: 'cluster_size', type: 'size', help: 'qcow2 cluster size', default: String(DEFAULT_CLUSTER_SIZE) },
  { name: 'extended_l2', type: 'bool', help: 'Extended L2 tables', default: 'off' },
  { name: 'preallocation', type: 'string', help: 'Preallocation mode (allowed values: off, metadata, falloc, full)' },
  { name: 'compression_type', type: 'string', help: 'Compression method used for image cluster compression', default: 'zlib' },
  { name: 'size', type: 'size', help: 'Virtual disk size' },
  { name: 'compat', type: 'string', help: 'Compatibility level (v2 [0.10] or v3 [1.1])' },
  { name: 'backing_file', type: 'string', help: 'File name of a base image' },
  { name: 'backing_fmt', type: 'string', help: 'Image format of the base image' },
  { name: 'data_file', type: 'string', help: 'File name of an external data file' },
  { name: 'data_file_raw', type: 'bool', help: 'The external data file must stay valid as a raw image' },
  { name: 'lazy_refcounts', type: 'bool', help: 'Postpone refcount updates', default: 'off' },
  { name: 'refcount_bits', type: 'number', help: 'Width of a reference count entry in bits', default: '16' },
];

/** The create options amend shares (QEMU's qcow2_amend_opts after its LUKS keyslot options). */
const AMENDABLE = ['encrypt.iter-time', 'size', 'compat', 'backing_file', 'backing_fmt', 'data_file', 'data_file_raw', 'lazy_refcounts', 'refcount_bits'];

/** What `qemu-img amend` takes for qcow2, in QEMU's order. */
export const QCOW2_AMEND_OPTIONS: CreateOptionSpec[] = [
  { name: 'encrypt.state', type: 'string', help: 'Select new state of affected keyslots (active/inactive)' },
  { name: 'encrypt.keyslot', type: 'number', help: 'Select a single keyslot to modify explicitly' },
  { name: 'encrypt.old-secret', type: 'string', help: 'Select all keyslots that match this password' },
  { name: 'encrypt.new-secret', type: 'string', help: 'New secret to set in the matching keyslots. Empty string to erase' },
  ...AMENDABLE.map((name) => QCOW2_CREATE_OPTIONS.find((o) => o.name === name)!),
];

export interface Qcow2CreateParams {
  size: number;
  clusterBits: number;
  version: 2 | 3;
  lazyRefcounts: boolean;
  refcountOrder: number;
  compressionType: 0 | 1;
  preallocation: Preallocation;
  backingFile?: string;
  backingFormat?: string;
  /** encrypt.format given: the scheme, passphrase and LUKS settings. */
  encryption?: Qcow2EncryptionSetup;
  /** measure: bytes a LUKS header adds (whole clusters). */
  encryptionBytes: number;
}

function invalid(message: string): BlockError {
  return new BlockError('EINVAL', message);
}

function bool(name: string, v: string | undefined): boolean {
  try {
    return parseBool(name, v, false);
  } catch (err) {
    throw invalid((err as Error).message);
  }
}

const V3_HINT = '(use version=v3 or greater)';

/**
 * refcount_bits as qemu-img 7.2 reads it. Both paths parse it as an unsigned
 * 64-bit option first ("expects a number", "is too large"). measure then
 * checks that value; create hands the text on to its QAPI options, which
 * read it again as a signed 64-bit "refcount-bits" before checking it.
 */
function refcountBitsOption(text: string, forMeasure: boolean): number {
  const u64 = parseCNumber(text);
  if (u64 === 'invalid') throw invalid(`Parameter 'refcount_bits' expects a number`);
  if (u64 === 'range') throw invalid(`Value '${text}' is too large for parameter 'refcount_bits'`);
  let bits = u64;
  if (!forMeasure) {
    const i64 = parseCInt64(text);
    if (i64 === undefined) throw invalid(`Parameter 'refcount-bits' expects integer`);
    bits = i64;
  }
  const asU64 = BigInt.asUintN(64, bits);
  if (bits > 64n || asU64 === 0n || (asU64 & (asU64 - 1n)) !== 0n) {
    throw invalid('Refcount width must be a power of two and may not exceed 64 bits');
  }
  // Only INT64_MIN gets here with a width over 64: its low 32 bits give a refcount order of 32.
  if (bits < 0n) throw invalid('Reference count entry width too large; may not exceed 64 bits');
  return Number(bits);
}

/**
 * Validates -o options in QEMU's order of checks. `secret` looks up the key
 * secret of an encrypted image (which is then refused all the same).
 */
export function parseCreateOptions(
  options: Record<string, string>, size: number, forMeasure = false, secret?: SecretLookup,
): Qcow2CreateParams {
  const o = options;
  if (!forMeasure) checkEncryptionAlias(o);
  let version: 2 | 3 = 3;
  if (o.compat !== undefined) {
    if (forMeasure) {
      // measure reads compat itself and knows only the two numbers (create goes through QAPI's v2/v3 too).
      if (o.compat === '0.10') version = 2;
      else if (o.compat === '1.1') version = 3;
      else throw invalid(`Invalid compatibility level: '${o.compat}'`);
    } else if (o.compat === '0.10' || o.compat === 'v2') version = 2;
    else if (o.compat === '1.1' || o.compat === 'v3') version = 3;
    else throw invalid(`Parameter 'version' does not accept value '${o.compat}'`);
  }
  const encrypt = forMeasure ? undefined : encryptionFormat(o);
  const prealloc = (o.preallocation ?? 'off') as Preallocation;
  if (!['off', 'metadata', 'falloc', 'full'].includes(prealloc)) {
    throw invalid(`Parameter 'preallocation' does not accept value '${o.preallocation}'`);
  }
  const ct = o.compression_type ?? 'zlib';
  if (ct !== 'zlib' && ct !== 'zstd') throw invalid(`Parameter 'compression-type' does not accept value '${ct}'`);
  const lazy = bool('lazy_refcounts', o.lazy_refcounts);
  const extL2 = bool('extended_l2', o.extended_l2);
  bool('data_file_raw', o.data_file_raw);
  bool('encryption', o.encryption);
  if (o.data_file !== undefined) throw new BlockError('ENOTSUP', 'qcow2: external data files are not supported yet');
  let clusterSize = DEFAULT_CLUSTER_SIZE;
  if (o.cluster_size !== undefined) {
    try {
      clusterSize = parseSize(o.cluster_size);
    } catch {
      throw invalid('Cluster size must be a power of two between 512 and 2048k');
    }
  }
  if (clusterSize < 512 || clusterSize > 2 * 1024 * 1024 || (clusterSize & (clusterSize - 1)) !== 0) {
    throw invalid('Cluster size must be a power of two between 512 and 2048k');
  }
  // QEMU checks these right after the cluster size, before any other compatibility rule.
  if (extL2 && version < 3) throw invalid(`Extended L2 entries are only supported with compatibility level 1.1 and above ${V3_HINT}`);
  if (extL2 && clusterSize < 16384) throw invalid('Extended L2 entries are only supported with cluster sizes of at least 16384 bytes');
  const refcountBits = o.refcount_bits === undefined ? 16 : refcountBitsOption(o.refcount_bits, forMeasure);
  if (version < 3 && refcountBits !== 16) {
    throw invalid(`Different refcount widths than 16 bits require compatibility level 1.1 or above ${V3_HINT}`);
  }
  if (version < 3 && lazy) {
    throw invalid(`Lazy refcounts only supported with compatibility level 1.1 and above ${V3_HINT}`);
  }
  if (version < 3 && ct !== 'zlib') {
    throw invalid(`Non-zlib compression type is only supported with compatibility level 1.1 and above ${V3_HINT}`);
  }
  if (o.backing_file !== undefined && prealloc !== 'off' && !extL2) {
    throw invalid('Backing file and preallocation can only be used at the same time if extended_l2 is on');
  }
  if (extL2) throw new BlockError('ENOTSUP', 'qcow2: extended L2 entries are not supported yet');
  if (o.backing_fmt !== undefined && o.backing_file === undefined) {
    throw invalid('Backing format cannot be used without backing file');
  }
  const encryptionBytes = forMeasure ? measureEncryption(o, secret, clusterSize) : 0;
  const encryption = !forMeasure && encrypt !== undefined ? encryptionSetup(o, encrypt, secret) : undefined;
  // Preallocated clusters would hold plaintext zeroes, which an encrypted image deciphers to noise.
  if (encryption !== undefined && prealloc !== 'off') throw new BlockError('ENOTSUP', 'qcow2: preallocating encrypted images is not supported');
  // QEMU's L1 table is at most 32 MiB (4 Mi entries, an L2 table's worth of guest space each); it finds out
  // when it first sizes the table, after every option check. qemu-img words EFBIG as "too large for format".
  if (!forMeasure && Math.ceil(size / (clusterSize * (clusterSize / 8))) > MAX_L1_BYTES / 8) throw new BlockError('EFBIG');
  return {
    // QEMU rounds the virtual size up to whole 512-byte sectors (the Formatting line keeps the given value).
    size: Math.ceil(size / 512) * 512,
    clusterBits: Math.log2(clusterSize),
    version,
    lazyRefcounts: lazy,
    refcountOrder: Math.log2(refcountBits),
    compressionType: ct === 'zlib' ? 0 : 1,
    preallocation: prealloc,
    backingFile: o.backing_file,
    backingFormat: o.backing_fmt,
    encryption,
    encryptionBytes,
  };
}
