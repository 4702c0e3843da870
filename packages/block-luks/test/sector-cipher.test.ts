// SectorCipher's one-pass XTS and CBC against OpenSSL run sector by sector
// (node:crypto's aes-*-xts / aes-*-cbc with each sector's IV): the same bytes,
// for requests that start past 2^32 sectors and end in a short unit (key
// material of 24-byte keys is not a whole number of sectors). Serpent,
// Twofish and CAST-128 (which OpenSSL lacks) against the modes written out
// block by block here.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SectorCipher, type LuksCryptoParams } from '@tsemu/block-luks';
import type { BlockCipher } from '../src/block-cipher.js';
import { Cast5 } from '../src/cipher-cast5.js';
import { Serpent } from '../src/cipher-serpent.js';
import { Twofish } from '../src/cipher-twofish.js';

function params(mode: string, ivgen: string, keyBytes: number, cipherName = 'aes', ivgenHash?: string): LuksCryptoParams {
  return {
    cipherName, mode, ivgen, ivgenHash, hash: 'sha256', keyBytes,
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
    const ecb = name.endsWith('-ecb') ? null : iv;
    const c = encrypt ? createCipheriv(name, key, ecb) : createDecipheriv(name, key, ecb);
    c.setAutoPadding(false);
    out.set(Buffer.concat([c.update(data.subarray(at, Math.min(at + 512, data.length))), c.final()]), at);
  }
  return out;
}

describe('SectorCipher', () => {
  it.each([
    ['xts', 'plain64', 64, 'aes-256-xts'], ['xts', 'plain', 32, 'aes-128-xts'],
    ['cbc', 'plain64', 32, 'aes-256-cbc'], ['cbc', 'plain', 24, 'aes-192-cbc'],
    // ECB and CTR run as one pass over the request (CTR: a key stream from the counters); OpenSSL per sector is the reference.
    ['ecb', 'plain64', 32, 'aes-256-ecb'], ['ecb', 'plain', 16, 'aes-128-ecb'],
    ['ctr', 'plain64', 16, 'aes-128-ctr'], ['ctr', 'plain', 32, 'aes-256-ctr'], ['ctr', 'plain64', 24, 'aes-192-ctr'],
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

const CIPHERS: Record<string, (key: Uint8Array) => BlockCipher> = {
  serpent: (key) => new Serpent(key), twofish: (key) => new Twofish(key), cast5: (key) => new Cast5(key),
};

/** One block of `data` at `at` through `cipher`, on a copy. */
function block(cipher: BlockCipher, data: Uint8Array, at: number, encrypt: boolean): Uint8Array {
  const b = data.slice(at, at + cipher.blockSize);
  if (encrypt) cipher.encryptBlocks(b);
  else cipher.decryptBlocks(b);
  return b;
}

/**
 * The reference: each 512-byte unit on its own, each block on its own, the
 * modes as their definitions say (XTS: IEEE 1619; CTR: the IV counted up as a
 * big-endian number).
 */
function modeReference(p: LuksCryptoParams, key: Uint8Array, data: Uint8Array, sector: number, encrypt: boolean): Uint8Array {
  const make = CIPHERS[p.cipherName]!;
  const half = p.mode === 'xts' ? p.keyBytes / 2 : p.keyBytes;
  const c = make(key.subarray(0, half));
  const n = c.blockSize;
  const out = new Uint8Array(data.length);
  for (let at = 0, s = sector; at < data.length; at += 512, s++) {
    const iv = new Uint8Array(n);
    const dv = new DataView(iv.buffer);
    dv.setUint32(0, s % 2 ** 32, true);
    if (p.ivgen !== 'plain') dv.setUint32(4, Math.floor(s / 2 ** 32), true);
    const unit = data.subarray(at, Math.min(at + 512, data.length));
    const res = out.subarray(at, at + unit.length);
    const ivFinal = p.ivgen === 'essiv' ? block(make(createHash(p.ivgenHash!).update(key).digest()), iv, 0, true) : iv;
    if (p.mode === 'xts') {
      let t = block(make(key.subarray(half)), ivFinal, 0, true);
      for (let b = 0; b < unit.length; b += 16) {
        const x = unit.slice(b, b + 16).map((v, i) => v ^ t[i]!);
        res.set(block(c, x, 0, encrypt).map((v, i) => v ^ t[i]!), b);
        // t times alpha in GF(2^128), little-endian.
        const next = new Uint8Array(16);
        for (let i = 0; i < 16; i++) next[i] = ((t[i]! << 1) | (i > 0 ? t[i - 1]! >> 7 : 0)) & 0xff;
        if (t[15]! & 0x80) next[0]! ^= 0x87;
        t = next;
      }
    } else if (p.mode === 'cbc') {
      let chain = ivFinal;
      for (let b = 0; b < unit.length; b += n) {
        const piece = unit.slice(b, b + n);
        if (encrypt) {
          chain = block(c, piece.map((v, i) => v ^ chain[i]!), 0, true);
          res.set(chain, b);
        } else {
          res.set(block(c, piece, 0, false).map((v, i) => v ^ chain[i]!), b);
          chain = piece;
        }
      }
    } else if (p.mode === 'ctr') {
      const counter = ivFinal.slice();
      for (let b = 0; b < unit.length; b += n) {
        const stream = block(c, counter, 0, true);
        res.set(unit.slice(b, b + n).map((v, i) => v ^ stream[i]!), b);
        for (let i = n - 1; i >= 0 && ++counter[i]! === 256; i--) counter[i] = 0;
      }
    } else {
      for (let b = 0; b < unit.length; b += n) res.set(block(c, unit, b, encrypt), b);
    }
  }
  return out;
}

describe('SectorCipher with Serpent, Twofish and CAST-128', () => {
  it.each([
    ['serpent', 'xts', 'plain64', 64, undefined], ['serpent', 'cbc', 'essiv', 16, 'sha256'], ['serpent', 'ecb', 'plain64', 32, undefined],
    ['twofish', 'xts', 'essiv', 48, 'md5'], ['twofish', 'cbc', 'plain', 32, undefined], ['twofish', 'ctr', 'plain64', 24, undefined],
    ['cast5', 'cbc', 'plain64', 16, undefined], ['cast5', 'cbc', 'essiv', 16, 'md5'], ['cast5', 'ctr', 'plain', 16, undefined],
    ['cast5', 'ecb', 'plain64', 16, undefined],
  ] as const)('%s %s-%s with %i-byte keys (essiv hash %s): as the modes block by block, both ways', (name, mode, ivgen, keyBytes, hash) => {
    const p = params(mode, ivgen, keyBytes, name, hash);
    const key = randomBytes(keyBytes);
    const cipher = new SectorCipher(p, key);
    for (const [length, sector] of [[4096, 7], [1792, 2 ** 32 - 2], [512, 0]] as const) {
      const plain = new Uint8Array(randomBytes(length));
      const data = plain.slice();
      cipher.encrypt(data, sector);
      const expected = modeReference(p, key, plain, sector, true);
      expect(Buffer.from(data).equals(expected)).toBe(true);
      expect(Buffer.from(modeReference(p, key, expected, sector, false)).equals(plain)).toBe(true);
      cipher.decrypt(data, sector);
      expect(Buffer.from(data).equals(plain)).toBe(true);
    }
  });

  it('refuses CAST-128 in xts as QEMU does', () => {
    expect(() => new SectorCipher(params('xts', 'plain64', 32, 'cast5'), randomBytes(32))).toThrow(/^Unsupported cipher mode xts$/);
  });
});
