// CAST-128 against RFC 2144 Appendix B: the three single vectors (128-, 80-
// and 40-bit keys) and the full maintenance test, which goes through every
// S-box entry.
import { describe, expect, it } from 'vitest';
import { Cast5 } from '../src/cipher-cast5.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/ /g, ''), 'hex'));
const text = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();

describe('CAST-128', () => {
  // B.1: key, plaintext 01 23 45 67 89 AB CD EF, ciphertext.
  it.each([
    ['128-bit', '01 23 45 67 12 34 56 78 23 45 67 89 34 56 78 9A', '238B4FE5847E44B2'],
    ['80-bit', '01 23 45 67 12 34 56 78 23 45', 'EB6A711A2C02271B'],
    ['40-bit', '01 23 45 67 12', '7AC816D16E9B302E'],
  ])('RFC 2144 B.1, %s key: the RFC\'s ciphertext, and back', (_, key, cipher) => {
    const c = new Cast5(hex(key));
    const block = hex('0123456789ABCDEF');
    c.encryptBlocks(block);
    expect(text(block)).toBe(cipher);
    c.decryptBlocks(block);
    expect(text(block)).toBe('0123456789ABCDEF');
  });

  it('RFC 2144 B.2, the full maintenance test (a million rounds of rekeying)', () => {
    const a = hex('01 23 45 67 12 34 56 78 23 45 67 89 34 56 78 9A');
    const b = a.slice();
    for (let i = 0; i < 1_000_000; i++) {
      new Cast5(b).encryptBlocks(a); // aL = encrypt(aL, b), aR = encrypt(aR, b)
      new Cast5(a).encryptBlocks(b);
    }
    expect(text(a)).toBe('EEA9D0A249FD3BA6B3436FB89D6DCA92');
    expect(text(b)).toBe('B2C95EB00C31AD7180AC05B8E83D696E');
  });

  it('refuses keys under 5 or over 16 bytes and runs that are not whole blocks', () => {
    expect(() => new Cast5(new Uint8Array(4))).toThrow(RangeError);
    expect(() => new Cast5(new Uint8Array(17))).toThrow(RangeError);
    expect(() => new Cast5(new Uint8Array(16)).decryptBlocks(new Uint8Array(12))).toThrow(RangeError);
  });
});
