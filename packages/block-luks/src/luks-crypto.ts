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

/** Enciphers or deciphers 512-byte sectors in place with one key: the IV of each comes from its sector number. */
export class SectorCipher {
  private readonly name: string;
  private readonly essiv: Buffer | undefined;
  private readonly iv = Buffer.alloc(16);

  constructor(private readonly p: LuksCryptoParams, private readonly key: Uint8Array) {
    this.name = opensslName(p.cipherName, p.mode, p.keyBytes);
    if (p.ivgen === 'essiv') {
      // ESSIV: the IV is the sector number enciphered (ECB) with a hash of the key; AES takes the digest as its key.
      const salt = createHash(p.ivgenHash ?? 'sha256').update(key).digest();
      if (![16, 24, 32].includes(salt.length)) throw new BlockError('ENOTSUP', `luks: essiv with hash '${p.ivgenHash}' is not supported`);
      this.essiv = salt;
    }
  }

  /** Deciphers `data` (whole sectors, the last one may be shorter) that starts at sector `sector`. */
  decrypt(data: Uint8Array, sector: number): void {
    this.run(data, sector, false);
  }

  encrypt(data: Uint8Array, sector: number): void {
    this.run(data, sector, true);
  }

  private run(data: Uint8Array, sector: number, encrypt: boolean): void {
    for (let at = 0; at < data.length; at += LUKS_SECTOR, sector++) {
      const piece = data.subarray(at, Math.min(at + LUKS_SECTOR, data.length));
      const iv = this.ivFor(sector);
      const c = encrypt ? createCipheriv(this.name, this.key, iv) : createDecipheriv(this.name, this.key, iv);
      c.setAutoPadding(false);
      const out = c.update(piece);
      c.final();
      piece.set(out);
    }
  }

  private ivFor(sector: number): Buffer | null {
    if (this.p.mode === 'ecb') return null;
    const iv = this.iv.fill(0);
    if (this.p.ivgen === 'plain') iv.writeUInt32LE(sector % 2 ** 32, 0);
    else {
      iv.writeUInt32LE(sector % 2 ** 32, 0);
      iv.writeUInt32LE(Math.floor(sector / 2 ** 32), 4);
    }
    if (this.essiv === undefined) return iv;
    const e = createCipheriv(`aes-${this.essiv.length * 8}-ecb`, this.essiv, null);
    e.setAutoPadding(false);
    return Buffer.concat([e.update(iv), e.final()]);
  }
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
