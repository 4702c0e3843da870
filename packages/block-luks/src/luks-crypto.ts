// LUKS1 key slots and payload sectors (the LUKS1 on-disk format
// specification): a slot's key is PBKDF2 of the passphrase; it decrypts the
// slot's anti-forensic key material, which merges (AF-merge with the header's
// hash) into a master key candidate, accepted when its PBKDF2 digest matches
// the header's. Payload sectors are 512 bytes, each enciphered on its own
// with an IV from its sector number (plain, plain64, essiv). Ciphers come from
// node:crypto (OpenSSL): AES in xts, cbc, ecb and ctr; others are refused.
import { createCipheriv, createDecipheriv, createHash, pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import { BlockError } from '@tsemu/block-core';

export const LUKS_SECTOR = 512;

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

/** OpenSSL's name for the algorithm and mode, given the cipher key's length in bytes. */
function opensslName(cipherName: string, mode: string, keyBytes: number): string {
  if (cipherName !== 'aes') throw new BlockError('ENOTSUP', `luks: cipher '${cipherName}' is not supported`);
  const bits = (mode === 'xts' ? keyBytes / 2 : keyBytes) * 8;
  return `aes-${bits}-${mode}`;
}

/**
 * Enciphers or deciphers 512-byte sectors in place with one key: the IV of
 * each comes from its sector number. XTS (both ways) and CBC decryption run
 * as one AES-ECB pass over the whole request plus XORs (tweaks and chaining
 * computed here), so OpenSSL is called a few times per request, not per
 * sector; CBC encryption (sequential by nature), ECB and CTR go sector by sector.
 */
export class SectorCipher {
  private readonly name: string;
  private readonly ecbName: string;
  private readonly essiv: Buffer | undefined;

  constructor(private readonly p: LuksCryptoParams, private readonly key: Uint8Array) {
    this.name = opensslName(p.cipherName, p.mode, p.keyBytes);
    this.ecbName = `aes-${(p.mode === 'xts' ? p.keyBytes / 2 : p.keyBytes) * 8}-ecb`;
    if (p.ivgen === 'essiv') {
      // ESSIV: the IV is the sector number enciphered (ECB) with a hash of the key; AES takes the digest as its key.
      const salt = createHash(p.ivgenHash ?? 'sha256').update(key).digest();
      if (![16, 24, 32].includes(salt.length)) throw new BlockError('ENOTSUP', `luks: essiv with hash '${p.ivgenHash}' is not supported`);
      this.essiv = salt;
    }
  }

  /** Deciphers `data` (whole sectors, the last one may be shorter, all multiples of 16 bytes) that starts at sector `sector`. */
  decrypt(data: Uint8Array, sector: number): void {
    if (this.p.mode === 'xts') this.xts(data, sector, false);
    else if (this.p.mode === 'cbc') this.cbcDecrypt(data, sector);
    else this.bySector(data, sector, false);
  }

  encrypt(data: Uint8Array, sector: number): void {
    if (this.p.mode === 'xts') this.xts(data, sector, true);
    else this.bySector(data, sector, true);
  }

  /** XTS (IEEE 1619): block j of a sector is E_K1(P xor T_j) xor T_j, T_0 = E_K2(IV), T_j+1 = T_j times alpha. */
  private xts(data: Uint8Array, sector: number, encrypt: boolean): void {
    const half = this.p.keyBytes / 2;
    const ivs = this.ivs(sector, Math.ceil(data.length / LUKS_SECTOR));
    const t0 = ecb(this.ecbName, this.key.subarray(half), ivs, true);
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
    const x = Buffer.allocUnsafe(data.length);
    xorInto(x, data, tb);
    const y = ecb(this.ecbName, this.key.subarray(0, half), x, encrypt);
    xorInto(data, y, tb);
  }

  /** CBC decryption: D(C_i) xor C_i-1, the sector's IV before its first block; one ECB pass for all blocks. */
  private cbcDecrypt(data: Uint8Array, sector: number): void {
    const ivs = this.ivs(sector, Math.ceil(data.length / LUKS_SECTOR));
    const plain = ecb(this.ecbName, this.key, data, false);
    // What each block is XORed with: the previous ciphertext block, or the IV at a sector's start.
    const prev = Buffer.allocUnsafe(data.length);
    for (let at = 0, s = 0; at < data.length; at += LUKS_SECTOR, s++) {
      prev.set(ivs.subarray(s * 16, s * 16 + 16), at);
      const end = Math.min(at + LUKS_SECTOR, data.length);
      prev.set(data.subarray(at, end - 16), at + 16);
    }
    xorInto(data, plain, prev);
  }

  private bySector(data: Uint8Array, sector: number, encrypt: boolean): void {
    const ecbMode = this.p.mode === 'ecb';
    const ivs = ecbMode ? undefined : this.ivs(sector, Math.ceil(data.length / LUKS_SECTOR));
    for (let at = 0, s = 0; at < data.length; at += LUKS_SECTOR, s++) {
      const piece = data.subarray(at, Math.min(at + LUKS_SECTOR, data.length));
      const iv = ivs === undefined ? null : ivs.subarray(s * 16, s * 16 + 16);
      const c = encrypt ? createCipheriv(this.name, this.key, iv) : createDecipheriv(this.name, this.key, iv);
      c.setAutoPadding(false);
      const out = c.update(piece);
      c.final();
      piece.set(out);
    }
  }

  /** The IVs of `count` sectors from `sector` on, 16 bytes each. */
  private ivs(sector: number, count: number): Buffer {
    const out = Buffer.alloc(count * 16);
    for (let i = 0; i < count; i++) {
      const n = sector + i;
      out.writeUInt32LE(n % 2 ** 32, i * 16);
      if (this.p.ivgen !== 'plain') out.writeUInt32LE(Math.floor(n / 2 ** 32), i * 16 + 4);
    }
    return this.essiv === undefined ? out : ecb(`aes-${this.essiv.length * 8}-ecb`, this.essiv, out, true);
  }
}

/** AES-ECB over whole blocks in one call. */
function ecb(name: string, key: Uint8Array, data: Uint8Array, encrypt: boolean): Buffer {
  const c = encrypt ? createCipheriv(name, key, null) : createDecipheriv(name, key, null);
  c.setAutoPadding(false);
  const out = c.update(data);
  c.final();
  return out;
}

/** dst = a xor b (equal lengths, multiples of 16): 32 bits at a time where all three allow it. */
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

/** LUKS's hash diffusion: each digest-sized piece replaced by H(index, piece), the last piece truncated. */
function diffuse(buf: Uint8Array, hash: string): void {
  const size = createHash(hash).digest().length;
  const index = Buffer.alloc(4);
  for (let i = 0, at = 0; at < buf.length; i++, at += size) {
    const piece = buf.subarray(at, Math.min(at + size, buf.length));
    index.writeUInt32BE(i, 0);
    const d = createHash(hash).update(index).update(piece).digest();
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
  opensslName(p.cipherName, p.mode, p.keyBytes); // an unsupported cipher says so before any slot is tried
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
