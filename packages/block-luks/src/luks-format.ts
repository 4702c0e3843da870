// A new LUKS1 volume header (qemu-img create -f luks), laid out as QEMU lays
// it out: the 592-byte header in the first 4 KiB, eight key slots whose
// material (key bytes x 4000 stripes) is rounded up to 4 KiB each, the
// payload after them. Slot 0 holds the master key for the passphrase: a
// random master key, AF-split into random stripes with the hash's diffusion,
// enciphered with PBKDF2(passphrase) like payload sectors (numbered from 0).
// Iteration counts come from timing PBKDF2 for `iter-time` ms, as QEMU does
// (the master key digest gets an eighth, at least 1000 each).
import { pbkdf2Sync, randomBytes, randomUUID } from 'node:crypto';
import { checkCipherMode, essivKeyBytes, luksAlgorithm } from './luks-ciphers.js';
import { diffuse, LUKS_SECTOR, SectorCipher, type LuksCryptoParams } from './luks-crypto.js';
import { LUKS_HEADER_BYTES, LUKS_SLOT_COUNT as SLOTS, LUKS_STRIPES as STRIPES, setKeySlot } from './luks-header.js';

const ALIGN = 4096;
/** QEMU's least PBKDF2 iteration count for a key slot or the master key digest. */
export const MIN_ITERATIONS = 1000;

export interface LuksCreateParams {
  cipherAlg: string;
  mode: string;
  ivgen: string;
  ivgenHash: string | undefined;
  hash: string;
  iterTimeMs: number;
}

/**
 * The creation options (`cipher-alg`, ... or qcow2's `encrypt.cipher-alg`,
 * ... with `prefix`) with QEMU's defaults: aes-256, xts, plain64 (essiv's
 * hash sha256), sha256, 2 s of PBKDF2. Then QEMU's checks of the cipher, in
 * its order and words, as its create (and measure) makes them before any
 * file is touched: an algorithm LUKS names ("Algorithm 'des' not
 * supported"), an ESSIV key size ("No Serpent cipher with key size 20
 * available"), the mode ("Unsupported cipher mode xts" for cast5).
 */
export function luksCreateParams(o: Record<string, string | undefined>, prefix = ''): LuksCreateParams {
  const ivgen = o[`${prefix}ivgen-alg`] ?? 'plain64';
  const iterTime = o[`${prefix}iter-time`];
  const p: LuksCreateParams = {
    cipherAlg: o[`${prefix}cipher-alg`] ?? 'aes-256', mode: o[`${prefix}cipher-mode`] ?? 'xts', ivgen,
    // A hash given with plain / plain64 is kept in the header ("xts-plain64:sha256"), as QEMU does.
    ivgenHash: o[`${prefix}ivgen-hash-alg`] ?? (ivgen === 'essiv' ? 'sha256' : undefined), hash: o[`${prefix}hash-alg`] ?? 'sha256',
    iterTimeMs: iterTime !== undefined ? Number(iterTime) : 2000,
  };
  const { name, keyBytes } = luksAlgorithm(p.cipherAlg);
  if (ivgen === 'essiv') essivKeyBytes(name, keyBytes, p.ivgenHash!);
  checkCipherMode(name, p.mode);
  return p;
}

/** The volume's header and slot 0's key material (to be written at `materialOffset`), and where the payload starts. */
export interface LuksFormatted {
  header: Uint8Array;
  material: Uint8Array;
  materialOffset: number;
  payloadOffset: number;
}

/** PBKDF2 iterations that take about `ms` milliseconds on this machine for `hash`. */
export function iterationsFor(hash: string, keyBytes: number, ms: number): number {
  const probe = 10000;
  const start = process.hrtime.bigint();
  pbkdf2Sync('tsemu', 'luks-timing', probe, keyBytes, hash);
  const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
  return Math.min(2 ** 32 - 1, Math.round((probe * ms) / Math.max(elapsedMs, 0.001)));
}

/** AF-split: stripes - 1 random stripes, then the one that merges back to `key`. */
export function afSplit(key: Uint8Array, stripes: number, hash: string): Uint8Array {
  const n = key.length;
  const out = new Uint8Array(n * stripes);
  out.set(randomBytes(n * (stripes - 1)));
  const d = new Uint8Array(n);
  for (let s = 0; s < stripes - 1; s++) {
    for (let i = 0; i < n; i++) d[i]! ^= out[s * n + i]!;
    diffuse(d, hash);
  }
  for (let i = 0; i < n; i++) out[(stripes - 1) * n + i] = d[i]! ^ key[i]!;
  return out;
}

/** The master key's length and slot `i`'s key material sector for a cipher ("aes-256") and mode; slot 8 is where the payload starts. */
export function luksLayout(cipherAlg: string, mode: string): { keyBytes: number; slotSector: (i: number) => number } {
  const cipherKeyBytes = luksAlgorithm(cipherAlg).keyBytes;
  const keyBytes = mode === 'xts' ? cipherKeyBytes * 2 : cipherKeyBytes;
  const materialSectors = Math.ceil((keyBytes * STRIPES) / ALIGN) * (ALIGN / LUKS_SECTOR);
  return { keyBytes, slotSector: (i) => ALIGN / LUKS_SECTOR + i * materialSectors };
}

/** Bytes before the payload of a new volume with this cipher and mode. */
export function luksPayloadOffset(cipherAlg: string, mode: string): number {
  return luksLayout(cipherAlg, mode).slotSector(SLOTS) * LUKS_SECTOR;
}

/** A new volume for `passphrase`: header, slot 0's material and the layout. */
export function formatLuks(p: LuksCreateParams, passphrase: Uint8Array): LuksFormatted {
  const { name } = luksAlgorithm(p.cipherAlg);
  const { keyBytes, slotSector: slotOffset } = luksLayout(p.cipherAlg, p.mode);
  const payloadSector = slotOffset(SLOTS);

  const masterKey = randomBytes(keyBytes);
  const slotSalt = randomBytes(32), mkSalt = randomBytes(32);
  // Each count is timed for the length it derives (a 64-byte slot key costs sha256 two blocks per iteration).
  const slotIters = Math.max(MIN_ITERATIONS, iterationsFor(p.hash, keyBytes, p.iterTimeMs));
  const mkIters = Math.max(MIN_ITERATIONS, Math.floor(iterationsFor(p.hash, 20, p.iterTimeMs) / 8));
  const mkDigest = pbkdf2Sync(masterKey, mkSalt, mkIters, 20, p.hash);

  const crypto: LuksCryptoParams = {
    cipherName: name, mode: p.mode, ivgen: p.ivgen, ivgenHash: p.ivgenHash, hash: p.hash, keyBytes,
    mkDigest, mkDigestSalt: mkSalt, mkDigestIter: mkIters, slots: [],
  };
  const material = afSplit(masterKey, STRIPES, p.hash);
  new SectorCipher(crypto, pbkdf2Sync(passphrase, slotSalt, slotIters, keyBytes, p.hash)).encrypt(material, 0);

  const header = new Uint8Array(LUKS_HEADER_BYTES);
  const dv = new DataView(header.buffer);
  const text = (at: number, s: string): void => void header.set(new TextEncoder().encode(s), at);
  header.set([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe], 0);
  dv.setUint16(6, 1);
  text(8, name);
  text(40, `${p.mode}-${p.ivgen}${p.ivgenHash !== undefined ? `:${p.ivgenHash}` : ''}`);
  text(72, p.hash);
  dv.setUint32(104, payloadSector);
  dv.setUint32(108, keyBytes);
  header.set(mkDigest, 112);
  header.set(mkSalt, 132);
  dv.setUint32(164, mkIters);
  text(168, randomUUID());
  for (let i = 0; i < SLOTS; i++) {
    setKeySlot(header, i, i === 0 ? { iterations: slotIters, salt: slotSalt } : undefined, { keyOffsetSector: slotOffset(i) });
  }
  return { header, material, materialOffset: slotOffset(0) * LUKS_SECTOR, payloadOffset: payloadSector * LUKS_SECTOR };
}
