// LUKS1 key slots and payload sectors (the LUKS1 on-disk format
// specification): a slot's key is PBKDF2 of the passphrase; it decrypts the
// slot's anti-forensic key material, which merges (AF-merge with the header's
// hash) into a master key candidate, accepted when its PBKDF2 digest matches
// the header's. Payload sectors are 512 bytes, each enciphered on its own
// with an IV from its sector number (plain, plain64, essiv). AES comes from
// node:crypto (OpenSSL); Serpent, Twofish and CAST-128 from cipher-*.ts
// (luks-ciphers.ts); each in xts, cbc, ecb and ctr (CAST-128 not in xts).
import { createCipheriv, createDecipheriv, createHash, hash as oneShotHash, pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import { BlockError } from '@tsemu/block-core';
import type { BlockCipher } from './block-cipher.js';
import { checkCipherMode, digestBytes, essivKeyBytes, LUKS_ALGORITHMS } from './luks-ciphers.js';

export const LUKS_SECTOR = 512;
/** Sectors from which AES-CBC encryption goes by block columns (32 OpenSSL calls) rather than a cipher object per sector. */
const CBC_COLUMNS_MIN_SECTORS = 64;

/** What a LUKS1 header says about its keys and cipher (raw fields, already checked by parseLuksHeader). */
export interface LuksCryptoParams {
  cipherName: string;
  mode: string;
  ivgen: string;
  ivgenHash: string | undefined;
  hash: string;
  keyBytes: number;
  mkDigest: Uint8Array;
  mkDigestSalt: Uint8Array;
  mkDigestIter: number;
  slots: ReadonlyArray<{ active: boolean; iterations: number; salt: Uint8Array; keyOffset: number; stripes: number }>;
}

/**
 * ECB over whole blocks with one key: the result, which is `data` itself
 * (enciphered in place) for our ciphers and a new buffer from OpenSSL for AES.
 */
type Ecb = (data: Uint8Array, encrypt: boolean) => Uint8Array;

function ecbFor(key: Uint8Array, ours: BlockCipher | undefined): Ecb {
  if (ours === undefined) {
    const openssl = `aes-${key.length * 8}-ecb`;
    return (data, encrypt) => ecb(openssl, key, data, encrypt);
  }
  return (data, encrypt) => {
    if (encrypt) ours.encryptBlocks(data);
    else ours.decryptBlocks(data);
    return data;
  };
}

/**
 * Enciphers or deciphers 512-byte sectors in place with one key: the IV of
 * each (a cipher block long) comes from its sector number. XTS (both ways),
 * CBC decryption, ECB and CTR run as one ECB pass over
 * the whole request plus XORs (tweaks, chaining and counters computed here),
 * so OpenSSL is called a few times per request, not per sector; CBC
 * encryption is sequential by nature (ours go block by block in place, AES
 * sector by sector through OpenSSL).
 */
export class SectorCipher {
  /** Bytes in a cipher block, and so in an IV (16, or 8 for CAST-128). */
  private readonly block: number;
  /** The data cipher (XTS: with the key's first half) and, for XTS, the tweak cipher. */
  private readonly ours: BlockCipher | undefined;
  private readonly data: Ecb;
  private readonly tweak: Ecb | undefined;
  private readonly essiv: Ecb | undefined;
  /** AES: OpenSSL's name for the whole mode, for the sector-by-sector paths. */
  private readonly openssl: string;
  private readonly dataKey: Uint8Array;

  constructor(private readonly p: LuksCryptoParams, key: Uint8Array) {
    const alg = LUKS_ALGORITHMS[p.cipherName];
    if (alg === undefined) throw new BlockError('ENOTSUP', `Algorithm '${p.cipherName}' not supported`);
    checkCipherMode(p.cipherName, p.mode);
    const half = p.mode === 'xts' ? p.keyBytes / 2 : p.keyBytes;
    this.block = alg.blockSize;
    this.dataKey = key.subarray(0, half);
    this.ours = alg.create?.(this.dataKey);
    this.data = ecbFor(this.dataKey, this.ours);
    if (p.mode === 'xts') {
      const tweakKey = key.subarray(half);
      this.tweak = ecbFor(tweakKey, alg.create?.(tweakKey));
    }
    this.openssl = `aes-${half * 8}-${p.mode}`;
    if (p.ivgen === 'essiv') {
      // ESSIV: the IV is the sector number enciphered (ECB) with the same algorithm keyed with a hash of the whole key.
      const hash = p.ivgenHash ?? 'sha256';
      essivKeyBytes(p.cipherName, half, hash);
      const salt = createHash(hash).update(key).digest();
      this.essiv = ecbFor(salt, alg.create?.(salt));
    }
  }

  /** Deciphers `data` (whole sectors, the last one may be shorter, all whole cipher blocks) that starts at sector `sector`. */
  decrypt(data: Uint8Array, sector: number): void {
    const mode = this.p.mode;
    if (mode === 'xts') this.xts(data, sector, false);
    else if (mode === 'cbc') this.cbcDecrypt(data, sector);
    else if (mode === 'ecb') this.ecbInPlace(data, false);
    else this.ctr(data, sector);
  }

  encrypt(data: Uint8Array, sector: number): void {
    const mode = this.p.mode;
    if (mode === 'xts') this.xts(data, sector, true);
    else if (mode === 'ecb') this.ecbInPlace(data, true);
    else if (mode !== 'cbc') this.ctr(data, sector);
    else if (this.ours !== undefined) this.cbcEncrypt(this.ours, data, sector);
    else {
      const count = Math.ceil(data.length / LUKS_SECTOR);
      if (count >= CBC_COLUMNS_MIN_SECTORS && (data.byteOffset & 3) === 0) this.cbcEncryptByColumn(data, sector, count);
      else this.cbcEncryptBySector(data, sector, count);
    }
  }

  /** XTS (IEEE 1619): block j of a sector is E_K1(P xor T_j) xor T_j, T_0 = E_K2(IV), T_j+1 = T_j times alpha. */
  private xts(data: Uint8Array, sector: number, encrypt: boolean): void {
    const ivs = this.ivs(sector, Math.ceil(data.length / LUKS_SECTOR));
    const t0 = this.tweak!(ivs, true);
    // Every block's tweak, as little-endian 32-bit words (the host is little-endian, as Node's platforms are).
    const tweaks = new Uint32Array(data.length / 4);
    const t = new Uint32Array(t0.buffer, t0.byteOffset, t0.length / 4);
    for (let w = 0, s = 0; w < tweaks.length; s++) {
      let w0 = t[s * 4]!, w1 = t[s * 4 + 1]!, w2 = t[s * 4 + 2]!, w3 = t[s * 4 + 3]!;
      for (let b = 0; b < LUKS_SECTOR / 16 && w < tweaks.length; b++, w += 4) {
        tweaks[w] = w0; tweaks[w + 1] = w1; tweaks[w + 2] = w2; tweaks[w + 3] = w3;
        const carry = w3 >>> 31;
        w3 = (w3 << 1) | (w2 >>> 31);
        w2 = (w2 << 1) | (w1 >>> 31);
        w1 = (w1 << 1) | (w0 >>> 31);
        w0 = (w0 << 1) ^ (carry * 0x87);
      }
    }
    const tb = new Uint8Array(tweaks.buffer);
    xorInto(data, data, tb);
    xorInto(data, this.data(data, encrypt), tb);
  }

  /** CBC decryption: D(C_i) xor C_i-1, the sector's IV before its first block; one ECB pass for all blocks. */
  private cbcDecrypt(data: Uint8Array, sector: number): void {
    const n = this.block;
    const ivs = this.ivs(sector, Math.ceil(data.length / LUKS_SECTOR));
    // What each block is XORed with: the previous ciphertext block, or the IV at a sector's start
    // (taken before our ciphers decipher `data` in place).
    // One copy shifted by a block, then each sector's first block replaced by its IV.
    const prev = new Uint8Array(data.length);
    prev.set(data.subarray(0, data.length - n), n);
    for (let at = 0, s = 0; at < data.length; at += LUKS_SECTOR, s++) {
      for (let i = 0; i < n; i++) prev[at + i] = ivs[s * n + i]!;
    }
    xorInto(data, this.data(data, false), prev);
  }

  /** CBC encryption with our ciphers: each block XORed with the one before (the IV first) and enciphered in place. */
  private cbcEncrypt(cipher: BlockCipher, data: Uint8Array, sector: number): void {
    const n = this.block;
    const ivs = this.ivs(sector, Math.ceil(data.length / LUKS_SECTOR));
    for (let start = 0, s = 0; start < data.length; start += LUKS_SECTOR, s++) {
      const end = Math.min(start + LUKS_SECTOR, data.length);
      for (let i = 0; i < n; i++) data[start + i]! ^= ivs[s * n + i]!;
      cipher.encryptBlocks(data, start, start + n);
      for (let at = start + n; at < end; at += n) {
        for (let i = 0; i < n; i++) data[at + i]! ^= data[at - n + i]!;
        cipher.encryptBlocks(data, at, at + n);
      }
    }
  }

  /** CTR: each sector's IV is its first counter block, counted up as a big-endian number; one ECB pass makes the key stream. */
  private ctr(data: Uint8Array, sector: number): void {
    const n = this.block, words = n >> 2;
    const ivs = this.ivs(sector, Math.ceil(data.length / LUKS_SECTOR));
    const iv = new DataView(ivs.buffer, ivs.byteOffset, ivs.length);
    const stream = new Uint8Array(data.length);
    const out = new DataView(stream.buffer);
    const w = new Uint32Array(words);
    for (let start = 0, s = 0; start < data.length; start += LUKS_SECTOR, s++) {
      for (let k = 0; k < words; k++) w[k] = iv.getUint32(s * n + k * 4, false);
      const end = Math.min(start + LUKS_SECTOR, data.length);
      for (let at = start; at < end; at += n) {
        for (let k = 0; k < words; k++) out.setUint32(at + k * 4, w[k]!, false);
        // + 1, the last word the least significant; a word that wraps to 0 carries into the one before.
        for (let k = words - 1; k >= 0 && ++w[k]! === 0; k--);
      }
    }
    xorInto(data, data, this.data(stream, true));
  }

  /** ECB: one pass over the whole request (no IVs). */
  private ecbInPlace(data: Uint8Array, encrypt: boolean): void {
    const out = this.data(data, encrypt);
    if (out !== data) data.set(out);
  }

  /** AES's CBC encryption: one OpenSSL cipher per sector (its blocks chain, so no single pass covers several sectors). */
  private cbcEncryptBySector(data: Uint8Array, sector: number, count: number): void {
    const ivs = this.ivs(sector, count);
    for (let at = 0, s = 0; at < data.length; at += LUKS_SECTOR, s++) {
      const piece = data.subarray(at, Math.min(at + LUKS_SECTOR, data.length));
      const c = createCipheriv(this.openssl, this.dataKey, ivs.subarray(s * 16, s * 16 + 16));
      c.setAutoPadding(false);
      const out = c.update(piece);
      c.final();
      piece.set(out);
    }
  }

  /**
   * AES's CBC encryption of many sectors: the sectors do not depend on each
   * other, so block j of every sector (XORed with its IV, or with block j - 1
   * enciphered the pass before) goes through one ECB pass: 32 OpenSSL calls
   * per request instead of a cipher object per sector.
   */
  private cbcEncryptByColumn(data: Uint8Array, sector: number, count: number): void {
    const d = new Int32Array(data.buffer, data.byteOffset, data.length >> 2);
    const iv = new Int32Array(count * 4);
    new Uint8Array(iv.buffer).set(this.ivs(sector, count));
    const col = new Int32Array(count * 4), colBytes = new Uint8Array(col.buffer);
    const lastBlocks = (data.length - (count - 1) * LUKS_SECTOR) >> 4; // the last sector may be shorter
    for (let j = 0; j < LUKS_SECTOR >> 4; j++) {
      const m = j < lastBlocks ? count : count - 1;
      for (let s = 0; s < m; s++) {
        const at = s * (LUKS_SECTOR >> 2) + j * 4, c = s * 4;
        if (j === 0) for (let k = 0; k < 4; k++) col[c + k] = d[at + k]! ^ iv[c + k]!;
        else for (let k = 0; k < 4; k++) col[c + k] = d[at + k]! ^ d[at - 4 + k]!;
      }
      colBytes.set(this.data(colBytes.subarray(0, m * 16), true));
      for (let s = 0; s < m; s++) {
        const at = s * (LUKS_SECTOR >> 2) + j * 4, c = s * 4;
        for (let k = 0; k < 4; k++) d[at + k] = col[c + k]!;
      }
    }
  }

  /** The IVs of `count` sectors from `sector` on, a cipher block each: the sector number little-endian (plain: its low 32 bits), or that enciphered (essiv). */
  private ivs(sector: number, count: number): Uint8Array {
    const n = this.block;
    const out = Buffer.alloc(count * n);
    for (let i = 0; i < count; i++) {
      const s = sector + i;
      out.writeUInt32LE(s % 2 ** 32, i * n);
      if (this.p.ivgen !== 'plain') out.writeUInt32LE(Math.floor(s / 2 ** 32), i * n + 4);
    }
    return this.essiv === undefined ? out : this.essiv(out, true);
  }
}

/** AES-ECB (OpenSSL) over whole blocks in one call. */
function ecb(name: string, key: Uint8Array, data: Uint8Array, encrypt: boolean): Buffer {
  const c = encrypt ? createCipheriv(name, key, null) : createDecipheriv(name, key, null);
  c.setAutoPadding(false);
  const out = c.update(data);
  c.final();
  return out;
}

/** dst = a xor b (equal lengths, multiples of 8; dst may be a): 32 bits at a time where all three allow it. */
function xorInto(dst: Uint8Array, a: Uint8Array, b: Uint8Array): void {
  if (((dst.byteOffset | a.byteOffset | b.byteOffset) & 3) === 0) {
    const d = new Int32Array(dst.buffer, dst.byteOffset, dst.length >> 2);
    const x = new Int32Array(a.buffer, a.byteOffset, a.length >> 2);
    const y = new Int32Array(b.buffer, b.byteOffset, b.length >> 2);
    for (let i = 0; i < d.length; i++) d[i] = x[i]! ^ y[i]!;
    return;
  }
  for (let i = 0; i < dst.length; i++) dst[i] = a[i]! ^ b[i]!;
}

/**
 * LUKS's hash diffusion: each digest-sized piece replaced by H(index, piece),
 * the last piece truncated. A key is diffused once per stripe (4000 times a
 * split or merge), so the one-shot hash on a reused buffer: ~3x faster than
 * a hash object per piece.
 */
export function diffuse(buf: Uint8Array, hash: string): void {
  const size = digestBytes(hash);
  const input = Buffer.alloc(4 + size);
  for (let i = 0, at = 0; at < buf.length; i++, at += size) {
    const piece = buf.subarray(at, Math.min(at + size, buf.length));
    input.writeUInt32BE(i, 0);
    input.set(piece, 4);
    const d = oneShotHash(hash, input.subarray(0, 4 + piece.length), 'buffer');
    piece.set(d.subarray(0, piece.length));
  }
}

/** AF-merge: the master key from `stripes` key-sized stripes. */
function afMerge(material: Uint8Array, keyBytes: number, stripes: number, hash: string): Uint8Array {
  const key = new Uint8Array(keyBytes);
  for (let s = 0; s < stripes; s++) {
    const stripe = material.subarray(s * keyBytes, (s + 1) * keyBytes);
    for (let i = 0; i < keyBytes; i++) key[i]! ^= stripe[i]!;
    if (s < stripes - 1) diffuse(key, hash);
  }
  return key;
}

/**
 * The master key the passphrase unlocks, trying the active slots in order;
 * QEMU's "Invalid password, cannot unlock any keyslot" when none opens.
 * `readMaterial` reads a slot's key material (bytes from its key offset).
 */
export async function unlockMasterKey(
  p: LuksCryptoParams, passphrase: Uint8Array, readMaterial: (offset: number, length: number) => Promise<Uint8Array>,
): Promise<Uint8Array> {
  try {
    return await tryKeySlots(p, passphrase, readMaterial);
  } catch (err) {
    // OpenSSL's own refusals (a hash or key size it lacks) as one line in the block layer's terms.
    if (err instanceof BlockError) throw err;
    throw new BlockError('ENOTSUP', `luks: ${(err as Error).message}`);
  }
}

async function tryKeySlots(
  p: LuksCryptoParams, passphrase: Uint8Array, readMaterial: (offset: number, length: number) => Promise<Uint8Array>,
): Promise<Uint8Array> {
  for (const slot of p.slots) {
    if (!slot.active) continue;
    const slotKey = pbkdf2Sync(passphrase, slot.salt, slot.iterations, p.keyBytes, p.hash);
    const material = await readMaterial(slot.keyOffset * LUKS_SECTOR, p.keyBytes * slot.stripes);
    new SectorCipher(p, slotKey).decrypt(material, 0);
    const candidate = afMerge(material, p.keyBytes, slot.stripes, p.hash);
    const digest = pbkdf2Sync(candidate, p.mkDigestSalt, p.mkDigestIter, p.mkDigest.length, p.hash);
    if (timingSafeEqual(digest, p.mkDigest)) return candidate;
  }
  throw new BlockError('EPERM', 'Invalid password, cannot unlock any keyslot');
}
