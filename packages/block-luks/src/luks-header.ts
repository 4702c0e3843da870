// A LUKS1 header (a luks image's start, or the one a qcow2 image keeps for
// encrypt.format=luks): checked as QEMU 7.2 checks it when it opens one, in
// the same order and words, and described as qemu-img info shows it. Layout
// from the LUKS1 on-disk format specification: a 592-byte big-endian header
// with eight 48-byte key slots. Decryption is luks-crypto.ts's.
import { BlockError, qdictOrder } from '@tsemu/block-core';
import { essivKeyBytes, LUKS_ALGORITHMS } from './luks-ciphers.js';
import type { LuksCryptoParams } from './luks-crypto.js';

const LUKS_MAGIC = [0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]; // "LUKS\xba\xbe"
/** Bytes of a LUKS1 header (the phdr and its key slots). */
export const LUKS_HEADER_BYTES = 592;
/** Key slots in a header, and the anti-forensic stripes of each slot's key material. */
export const LUKS_SLOT_COUNT = 8;
export const LUKS_STRIPES = 4000;
const SLOT_BYTES = 48;
const SLOTS_AT = 208;
const SLOT_ACTIVE = 0x00ac71f3;
const SLOT_DISABLED = 0x0000dead;

/**
 * Writes key slot `i`'s state, iteration count and salt into a header
 * (`salt` undefined: an inactive slot, zero salt); the key offset and
 * stripes (bytes 40-47 of the slot) are set with `layout`, when given.
 */
export function setKeySlot(
  header: Uint8Array, i: number, slot: { iterations: number; salt: Uint8Array } | undefined, layout?: { keyOffsetSector: number },
): void {
  const dv = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const at = SLOTS_AT + i * SLOT_BYTES;
  dv.setUint32(at, slot ? SLOT_ACTIVE : SLOT_DISABLED);
  dv.setUint32(at + 4, slot ? slot.iterations : 0);
  if (slot) header.set(slot.salt, at + 8);
  else header.fill(0, at + 8, at + 40);
  if (layout) {
    dv.setUint32(at + 40, layout.keyOffsetSector);
    dv.setUint32(at + 44, LUKS_STRIPES);
  }
}
const SECTOR = 512;
/** QEMU keeps the first 4 KiB for the header: payload and key material must start past it. */
const HEADER_SECTORS = 4096 / SECTOR;

const CIPHER_MODES = ['ecb', 'cbc', 'xts', 'ctr'];
const IVGENS = ['plain', 'plain64', 'essiv'];
const HASHES = ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'ripemd160'];

const invalid = (message: string): BlockError => new BlockError('EINVAL', message);

/** A NUL-terminated text field of the header. */
function field(buf: Uint8Array, at: number, length: number): string {
  const bytes = buf.subarray(at, at + length);
  const nul = bytes.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? bytes : bytes.subarray(0, nul));
}

/** Whether `buf` starts with the LUKS magic (a luks image probes as luks by it). */
export function isLuksHeader(buf: Uint8Array): boolean {
  return buf.length >= LUKS_MAGIC.length && LUKS_MAGIC.every((b, i) => buf[i] === b);
}

interface Slot { active: boolean; iterations: number; salt: Uint8Array; keyOffset: number; stripes: number }

export interface LuksHeader {
  /** Where the encrypted payload starts, in bytes from the header. */
  payloadOffset: number;
  /** qemu-img info's description (QCryptoBlockInfoLUKS) in QDict key order, without the "format" key. */
  info: Record<string, unknown>;
  /** What unlocking and the payload's cipher need. */
  crypto: LuksCryptoParams;
}

/** Checks a LUKS header (LUKS_HEADER_BYTES from its start) as QEMU does when it opens one. */
export function parseLuksHeader(buf: Uint8Array): LuksHeader {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < LUKS_HEADER_BYTES || !isLuksHeader(buf)) throw invalid('Volume is not in LUKS format');
  const version = dv.getUint16(6);
  if (version !== 1) throw invalid(`LUKS version ${version} is not supported`);
  const cipherName = field(buf, 8, 32), cipherModeSpec = field(buf, 40, 32), hashSpec = field(buf, 72, 32);
  const payloadSector = dv.getUint32(104), keyBytes = dv.getUint32(108), masterKeyIters = dv.getUint32(164);
  const uuid = field(buf, 168, 40);
  const slots: Slot[] = [];
  for (let i = 0; i < LUKS_SLOT_COUNT; i++) {
    const at = SLOTS_AT + i * SLOT_BYTES;
    slots.push({
      active: dv.getUint32(at) === SLOT_ACTIVE, iterations: dv.getUint32(at + 4), salt: buf.slice(at + 8, at + 40),
      keyOffset: dv.getUint32(at + 40), stripes: dv.getUint32(at + 44),
    });
  }
  checkLayout(dv, slots, payloadSector, keyBytes, masterKeyIters);
  const cipher = parseCipher(cipherName, cipherModeSpec, hashSpec, keyBytes);
  const slotInfo = slots.map((s) => (s.active
    ? orderKeys({ active: true, iters: s.iterations, 'key-offset': s.keyOffset * SECTOR, stripes: s.stripes })
    : orderKeys({ active: false, 'key-offset': s.keyOffset * SECTOR })));
  return {
    payloadOffset: payloadSector * SECTOR,
    info: orderKeys({
      'cipher-alg': cipher.alg, 'cipher-mode': cipher.mode, 'ivgen-alg': cipher.ivgen,
      ...(cipher.ivgen === 'essiv' && { 'ivgen-hash-alg': cipher.ivgenHash }),
      'hash-alg': hashSpec, 'payload-offset': payloadSector * SECTOR, 'master-key-iters': masterKeyIters, uuid, slots: slotInfo,
    }),
    crypto: {
      cipherName, mode: cipher.mode, ivgen: cipher.ivgen, ivgenHash: cipher.ivgenHash, hash: hashSpec, keyBytes,
      mkDigest: buf.slice(112, 132), mkDigestSalt: buf.slice(132, 164), mkDigestIter: masterKeyIters, slots,
    },
  };
}

/** Payload and key slot placement, QEMU's checks in its order. */
function checkLayout(dv: DataView, slots: Slot[], payloadSector: number, keyBytes: number, masterKeyIters: number): void {
  if (payloadSector < HEADER_SECTORS) throw invalid('LUKS payload is overlapping with the header');
  if (masterKeyIters === 0) throw invalid('LUKS key iteration count is zero');
  // Key material (keyBytes x stripes) rounded up to 4 KiB, as QEMU lays it out.
  const sectors = (s: Slot): number => Math.ceil((keyBytes * s.stripes) / 4096) * (4096 / SECTOR);
  for (let i = 0; i < LUKS_SLOT_COUNT; i++) {
    const s = slots[i]!;
    const state = dv.getUint32(SLOTS_AT + i * SLOT_BYTES);
    if (state !== SLOT_ACTIVE && state !== SLOT_DISABLED) throw invalid(`Keyslot ${i} state (active/disable) is corrupted`);
    if (s.stripes !== LUKS_STRIPES) throw invalid(`Keyslot ${i} is corrupted (stripes ${s.stripes} != ${LUKS_STRIPES})`);
    if (s.active && s.iterations === 0) throw invalid(`Keyslot ${i} iteration count is zero`);
    if (s.keyOffset < HEADER_SECTORS) throw invalid(`Keyslot ${i} is overlapping with the LUKS header`);
    const end = s.keyOffset + sectors(s);
    if (end > payloadSector) throw invalid(`Keyslot ${i} is overlapping with the encrypted payload`);
    for (let j = i + 1; j < LUKS_SLOT_COUNT; j++) {
      const t = slots[j]!;
      if (s.keyOffset < t.keyOffset + sectors(t) && t.keyOffset < end) throw invalid(`Keyslots ${i} and ${j} are overlapping in the header`);
    }
  }
}

/** "xts-plain64", "cbc-essiv:sha256": QEMU's names for the cipher, its mode and IV generator. */
function parseCipher(name: string, modeSpec: string, hashSpec: string, keyBytes: number) {
  const dash = modeSpec.indexOf('-');
  if (dash < 0) throw invalid(`Unexpected cipher mode string format '${modeSpec}'`);
  const mode = modeSpec.slice(0, dash);
  let ivgen = modeSpec.slice(dash + 1);
  if (!CIPHER_MODES.includes(mode)) throw invalid(`Cipher mode '${mode}' not supported`);
  let ivgenHash: string | undefined;
  const colon = ivgen.indexOf(':');
  if (colon >= 0) {
    ivgenHash = ivgen.slice(colon + 1);
    ivgen = ivgen.slice(0, colon);
    if (!HASHES.includes(ivgenHash)) throw invalid(`Hash algorithm '${ivgenHash}' not supported`);
  }
  // XTS keys hold two cipher keys: the algorithm's size is half.
  const size = mode === 'xts' ? Math.floor(keyBytes / 2) : keyBytes;
  if (!(LUKS_ALGORITHMS[name]?.keySizes ?? []).includes(size)) throw invalid(`Algorithm '${name}' with key size ${size} bytes not supported`);
  if (!HASHES.includes(hashSpec)) throw invalid(`Hash algorithm '${hashSpec}' not supported`);
  if (!IVGENS.includes(ivgen)) throw invalid(`IV generator '${ivgen}' not supported`);
  // ESSIV needs its hash, and a key size of the algorithm the digest fills (plain and plain64 ignore a hash, as dm-crypt does).
  if (ivgen === 'essiv') {
    if (ivgenHash === undefined) throw invalid('Missing IV generator hash specification');
    essivKeyBytes(name, size, ivgenHash);
  }
  return { alg: `${name}-${size * 8}`, mode, ivgen, ivgenHash };
}

/** `o`'s keys in the order a QEMU QDict holding them is walked (how qemu-img prints them). */
export function orderKeys(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of qdictOrder(Object.keys(o))) out[k] = o[k];
  return out;
}
