// Serpent against published known answers, every key size, both ways.
import { describe, expect, it } from 'vitest';
import { Serpent } from '../src/cipher-serpent.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const text = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();
const reverse = (s: string): string => text(hex(s).reverse());

// NESSIE's "verified test vectors" for Serpent, as Biham's Serpent page
// publishes them (Serpent-128-128, -192-128 and -256-128.verified.test-vectors):
// byte i of key and block is byte i of the little-endian words, as dm-crypt,
// QEMU and the Linux kernel read them. [set and vector, key, plaintext, ciphertext].
const NESSIE: [string, string, string, string][] = [
  ['128 set 1 #0', '80000000000000000000000000000000', '00000000000000000000000000000000', '264E5481EFF42A4606ABDA06C0BFDA3D'],
  ['128 set 1 #1', '40000000000000000000000000000000', '00000000000000000000000000000000', '4A231B3BC727993407AC6EC8350E8524'],
  ['128 set 3 #0', '00000000000000000000000000000000', '00000000000000000000000000000000', '3620B17AE6A993D09618B8768266BAE9'],
  ['192 set 1 #0', '800000000000000000000000000000000000000000000000', '00000000000000000000000000000000', '9E274EAD9B737BB21EFCFCA548602689'],
  ['192 set 1 #3', '100000000000000000000000000000000000000000000000', '00000000000000000000000000000000', 'BEC1E37824CF721E5D87F6CB4EBFB9BE'],
  ['192 set 4 #0', '000102030405060708090A0B0C0D0E0F1011121314151617', '4528CACCB954D450655E8CFD71CBFAC7', '00112233445566778899AABBCCDDEEFF'],
  ['256 set 1 #0', '8000000000000000000000000000000000000000000000000000000000000000', '00000000000000000000000000000000', 'A223AA1288463C0E2BE38EBD825616C0'],
  ['256 set 3 #1', '0101010101010101010101010101010101010101010101010101010101010101', '01010101010101010101010101010101', 'EC9723B15B2A6489F84C4524FFFC2748'],
  ['256 set 3 #2', '0202020202020202020202020202020202020202020202020202020202020202', '02020202020202020202020202020202', '1187F485538514476184E567DA0421C7'],
  ['256 set 4 #0', '000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F', '3DA46FFA6F4D6F30CD258333E5A61369', '00112233445566778899AABBCCDDEEFF'],
];

describe('Serpent', () => {
  it.each(NESSIE)('NESSIE %s: enciphers to the published block and back', (_, key, plain, cipher) => {
    const s = new Serpent(hex(key));
    const block = hex(plain);
    s.encryptBlocks(block);
    expect(text(block)).toBe(cipher);
    s.decryptBlocks(block);
    expect(text(block)).toBe(plain);
  });

  it('the AES submission\'s ecb_vt.txt (128-bit key, I=1), whose values are 128-bit numbers: byte-reversed here', () => {
    // KEY=0, PT=80000000000000000000000000000000, CT=10B5FFB720B8CB9002A1142B0BA2E94A in the submission's notation.
    const block = hex(reverse('80000000000000000000000000000000'));
    new Serpent(new Uint8Array(16)).encryptBlocks(block);
    expect(text(block)).toBe(reverse('10B5FFB720B8CB9002A1142B0BA2E94A'));
  });

  it('many blocks in one call, and a run inside a larger buffer, as block by block', () => {
    const s = new Serpent(hex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F'));
    const data = new Uint8Array(16 * 40).map((_, i) => (i * 37) & 0xff);
    const whole = data.slice();
    s.encryptBlocks(whole);
    const inner = data.slice();
    s.encryptBlocks(inner, 32, 16 * 39);
    for (let at = 0; at < data.length; at += 16) {
      const one = data.slice(at, at + 16);
      s.encryptBlocks(one);
      expect(text(whole.subarray(at, at + 16))).toBe(text(one));
      expect(text(inner.subarray(at, at + 16))).toBe(text(at >= 32 && at < 16 * 39 ? one : data.subarray(at, at + 16)));
    }
    s.decryptBlocks(whole);
    expect(text(whole)).toBe(text(data));
  });

  it('refuses other key sizes and runs that are not whole blocks', () => {
    expect(() => new Serpent(new Uint8Array(20))).toThrow(RangeError);
    expect(() => new Serpent(new Uint8Array(16)).encryptBlocks(new Uint8Array(24))).toThrow(RangeError);
  });
});
