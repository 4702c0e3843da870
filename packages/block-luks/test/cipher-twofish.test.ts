// Twofish against the known answers of its AES submission, every key size, both ways.
import { describe, expect, it } from 'vitest';
import { Twofish } from '../src/cipher-twofish.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const text = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();

describe('Twofish', () => {
  // The Twofish paper's test vectors (its appendix; the submission's ecb_tbl.txt starts the same way for 128 bits).
  it.each([
    ['00000000000000000000000000000000', '9F589F5CF6122C32B6BFEC2F2AE8C35A'],
    ['0123456789ABCDEFFEDCBA98765432100011223344556677', 'CFD1D2E5A9BE9CDF501F13B892BD2248'],
    ['0123456789ABCDEFFEDCBA987654321000112233445566778899AABBCCDDEEFF', '37527BE0052334B89F0CFCCAE87CFA20'],
  ])('key %s, zero plaintext: the paper\'s ciphertext, and back', (key, cipher) => {
    const t = new Twofish(hex(key));
    const block = new Uint8Array(16);
    t.encryptBlocks(block);
    expect(text(block)).toBe(cipher);
    t.decryptBlocks(block);
    expect(text(block)).toBe('0'.repeat(32));
  });

  // The submission's ecb_tbl.txt ("Tests permutation tables and MDS matrix
  // multiply tables"): from a zero key and block, each step's key is the last
  // plaintext followed by the last key (cut to the key size) and its plaintext
  // the last ciphertext; I=49's ciphertext is given for each key size.
  it.each([
    [16, '5D9D4EEFFA9151575524F115815A12E0'],
    [24, 'E75449212BEEF9F4A390BD860A640941'],
    [32, '37FE26FF1CF66175F5DDF4C33B97A205'],
  ])('ecb_tbl.txt, %i-byte keys: I=49 as published, and every step deciphers back', (bytes, last) => {
    let key = new Uint8Array(bytes), plain = new Uint8Array(16), cipher = new Uint8Array(16);
    for (let i = 1; i <= 49; i++) {
      const t = new Twofish(key);
      cipher = plain.slice();
      t.encryptBlocks(cipher);
      const back = cipher.slice();
      t.decryptBlocks(back);
      expect(text(back)).toBe(text(plain));
      const next = new Uint8Array(bytes);
      next.set(plain);
      next.set(key.subarray(0, bytes - 16), 16);
      key = next;
      plain = cipher;
    }
    expect(text(cipher)).toBe(last);
  });

  it('a run inside a larger buffer leaves the rest alone', () => {
    const t = new Twofish(new Uint8Array(32).fill(9));
    const data = new Uint8Array(64).fill(1);
    t.encryptBlocks(data, 16, 48);
    expect(text(data.subarray(0, 16))).toBe('01'.repeat(16));
    expect(text(data.subarray(48))).toBe('01'.repeat(16));
    expect(text(data.subarray(16, 32))).toBe(text(data.subarray(32, 48)));
    t.decryptBlocks(data, 16, 48);
    expect(text(data)).toBe('01'.repeat(64));
  });
});
