// SectorCipher's one-pass XTS and CBC against OpenSSL run sector by sector
// (node:crypto's aes-*-xts / aes-*-cbc with each sector's IV): the same bytes,
// for requests that start past 2^32 sectors and end in a short unit (key
// material of 24-byte keys is not a whole number of sectors).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SectorCipher, type LuksCryptoParams } from '@tsemu/block-luks';

function params(mode: string, ivgen: string, keyBytes: number): LuksCryptoParams {
  return {
    cipherName: 'aes', mode, ivgen, ivgenHash: undefined, hash: 'sha256', keyBytes,
    mkDigest: new Uint8Array(0), mkDigestSalt: new Uint8Array(0), mkDigestIter: 0, slots: [],
  };
}

/** The reference: one OpenSSL cipher per 512-byte unit, IV = the sector number (plain64, or plain's low 32 bits). */
function reference(name: string, key: Uint8Array, data: Uint8Array, sector: number, ivgen: string, encrypt: boolean): Buffer {
  const out = Buffer.alloc(data.length);
  for (let at = 0, s = sector; at < data.length; at += 512, s++) {
    const iv = Buffer.alloc(16);
    iv.writeUInt32LE(s % 2 ** 32, 0);
    if (ivgen === 'plain64') iv.writeUInt32LE(Math.floor(s / 2 ** 32), 4);
    const c = encrypt ? createCipheriv(name, key, iv) : createDecipheriv(name, key, iv);
    c.setAutoPadding(false);
    out.set(Buffer.concat([c.update(data.subarray(at, Math.min(at + 512, data.length))), c.final()]), at);
  }
  return out;
}

describe('SectorCipher', () => {
  it.each([
    ['xts', 'plain64', 64, 'aes-256-xts'], ['xts', 'plain', 32, 'aes-128-xts'],
    ['cbc', 'plain64', 32, 'aes-256-cbc'], ['cbc', 'plain', 24, 'aes-192-cbc'],
  ])('%s-%s with %i-byte keys: as OpenSSL sector by sector, both ways', (mode, ivgen, keyBytes, name) => {
    const key = randomBytes(keyBytes);
    const cipher = new SectorCipher(params(mode, ivgen, keyBytes), key);
    for (const [length, sector] of [[4096, 7], [96000, 2 ** 32 - 3], [512, 0]] as const) {
      const plain = randomBytes(length);
      const data = new Uint8Array(plain);
      cipher.encrypt(data, sector);
      expect(Buffer.from(data).equals(reference(name, key, plain, sector, ivgen, true))).toBe(true);
      cipher.decrypt(data, sector);
      expect(Buffer.from(data).equals(plain)).toBe(true);
      // Unaligned views take the byte-wise path.
      const odd = new Uint8Array(length + 1).subarray(1);
      odd.set(reference(name, key, plain, sector, ivgen, true));
      cipher.decrypt(odd, sector);
      expect(Buffer.from(odd).equals(plain)).toBe(true);
    }
  });
});
