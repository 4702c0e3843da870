// Serpent (Anderson, Biham, Knudsen; the AES submission paper), in the
// paper's bitslice form: the block is four 32-bit words X0..X3, taken
// little-endian from the bytes (as dm-crypt, QEMU and the NESSIE vectors
// take them), 32 rounds of key mixing, one of eight 4-bit S-boxes applied to
// the 32 nibbles (bit i of X0..X3) at once, and the linear transformation;
// the last round mixes a 33rd key instead. Keys of 16, 24 or 32 bytes.
import { checkRun, le32, putLe32, type BlockCipher } from './block-cipher.js';

/** The S-boxes S0..S7 of the specification (x -> S[x], bit j of x from word Xj). */
export const SERPENT_SBOXES: readonly (readonly number[])[] = [
  [3, 8, 15, 1, 10, 6, 5, 11, 14, 13, 4, 2, 7, 0, 9, 12],
  [15, 12, 2, 7, 9, 0, 5, 10, 1, 11, 14, 8, 6, 13, 3, 4],
  [8, 6, 7, 9, 3, 12, 10, 15, 13, 1, 14, 4, 0, 11, 5, 2],
  [0, 15, 11, 8, 12, 9, 6, 3, 13, 1, 2, 4, 10, 7, 5, 14],
  [1, 15, 8, 3, 12, 0, 11, 6, 2, 5, 4, 10, 9, 14, 7, 13],
  [15, 5, 2, 11, 4, 10, 9, 12, 0, 3, 14, 8, 13, 6, 7, 1],
  [7, 2, 12, 5, 8, 4, 6, 11, 14, 9, 1, 15, 13, 3, 10, 0],
  [1, 13, 15, 0, 14, 8, 2, 11, 7, 4, 12, 10, 9, 3, 5, 6],
];

const PHI = 0x9e3779b9 | 0;

const rol = (x: number, n: number): number => (x << n) | (x >>> (32 - n));

/** S-box `box` applied to the four words w[at..at+3] in place, nibble by nibble from the table (the key schedule's few uses). */
function sboxByTable(box: readonly number[], w: Int32Array, at: number): void {
  let y0 = 0, y1 = 0, y2 = 0, y3 = 0;
  for (let i = 0; i < 32; i++) {
    const x = ((w[at]! >>> i) & 1) | (((w[at + 1]! >>> i) & 1) << 1) | (((w[at + 2]! >>> i) & 1) << 2) | (((w[at + 3]! >>> i) & 1) << 3);
    const y = box[x]!;
    y0 |= (y & 1) << i;
    y1 |= ((y >> 1) & 1) << i;
    y2 |= ((y >> 2) & 1) << i;
    y3 |= ((y >> 3) & 1) << i;
  }
  w[at] = y0; w[at + 1] = y1; w[at + 2] = y2; w[at + 3] = y3;
}

// The rounds keep the block in four locals, eight rounds (S0..S7) per loop
// pass. Each S-box there is Boolean algebra on whole words: an output bit is
// the XOR of the products of input bits in its algebraic normal form, worked
// out from SERPENT_SBOXES (a..d are X0..X3, ~ the constant term); the
// known-answer tests exercise all of them. The two lines of rotations
// between S-boxes are the linear transformation (its inverse when
// deciphering). Unrolled so, it runs faster than one S-box a pass chosen by
// a switch.
export class Serpent implements BlockCipher {
  readonly blockSize = 16;
  /** The 33 round keys, four words each. */
  private readonly k = new Int32Array(132);

  constructor(key: Uint8Array) {
    if (key.length !== 16 && key.length !== 24 && key.length !== 32) throw new RangeError(`serpent: a ${key.length}-byte key`);
    // The key as eight words (a short one ended by a 1 bit), then the 132 prekeys.
    const w = new Int32Array(140);
    for (let i = 0; i < key.length; i++) w[i >> 2]! |= key[i]! << (8 * (i & 3));
    if (key.length < 32) w[key.length >> 2]! |= 1 << (8 * (key.length & 3));
    for (let i = 8; i < 140; i++) w[i] = rol(w[i - 8]! ^ w[i - 5]! ^ w[i - 3]! ^ w[i - 1]! ^ PHI ^ (i - 8), 11);
    // Round key j: S-box (3 - j) mod 8 of prekeys 4j..4j+3.
    for (let j = 0; j < 33; j++) sboxByTable(SERPENT_SBOXES[(35 - j) & 7]!, w, 8 + 4 * j);
    this.k.set(w.subarray(8));
  }

  encryptBlocks(data: Uint8Array, start = 0, end = data.length): void {
    checkRun('serpent', 16, start, end, data.length);
    const k = this.k;
    for (let at = start; at < end; at += 16) {
      let a = le32(data, at), b = le32(data, at + 4), c = le32(data, at + 8), d = le32(data, at + 12);
      for (let r = 0; r < 128; r += 32) {
        a ^= k[r]!; b ^= k[r + 1]!; c ^= k[r + 2]!; d ^= k[r + 3]!;
        { // S0
          const ab = a & b, ac = a & c, bc = b & c, ad = a & d, bd = b & d, abc = bc & a, acd = ad & c, bcd = bd & c;
          const y0 = ~(a ^ ab ^ c ^ ac ^ bc ^ abc ^ d ^ acd ^ bcd);
          const y1 = ~(a ^ ac ^ bc ^ abc ^ bd ^ acd ^ bcd);
          const y2 = b ^ ab ^ ac ^ abc ^ d ^ bd ^ bcd;
          const y3 = a ^ b ^ c ^ d ^ ad;
          a = y0; b = y1; c = y2; d = y3;
        }
        a = rol(a, 13); c = rol(c, 3); b = rol(b ^ a ^ c, 1); d = rol(d ^ c ^ (a << 3), 7);
        a = rol(a ^ b ^ d, 5); c = rol(c ^ d ^ (b << 7), 22);
        a ^= k[r + 4]!; b ^= k[r + 5]!; c ^= k[r + 6]!; d ^= k[r + 7]!;
        { // S1
          const ab = a & b, ac = a & c, bc = b & c, ad = a & d, bd = b & d, cd = c & d, abd = bd & a, acd = cd & a;
          const bcd = cd & b;
          const y0 = ~(a ^ b ^ bc ^ ad ^ cd ^ acd ^ bcd);
          const y1 = ~(a ^ ab ^ c ^ ac ^ d ^ bd ^ abd ^ acd ^ bcd);
          const y2 = ~(b ^ ab ^ c ^ d);
          const y3 = ~(b ^ ac ^ d ^ ad ^ abd ^ acd ^ bcd);
          a = y0; b = y1; c = y2; d = y3;
        }
        a = rol(a, 13); c = rol(c, 3); b = rol(b ^ a ^ c, 1); d = rol(d ^ c ^ (a << 3), 7);
        a = rol(a ^ b ^ d, 5); c = rol(c ^ d ^ (b << 7), 22);
        a ^= k[r + 8]!; b ^= k[r + 9]!; c ^= k[r + 10]!; d ^= k[r + 11]!;
        { // S2
          const ac = a & c, bc = b & c, ad = a & d, bd = b & d, cd = c & d, abc = bc & a, abd = bd & a, acd = cd & a;
          const y0 = b ^ c ^ ac ^ d;
          const y1 = a ^ b ^ c ^ bc ^ abc ^ ad ^ abd ^ cd ^ acd;
          const y2 = a ^ b ^ bc ^ d ^ bd ^ abd ^ cd ^ acd;
          const y3 = ~(a ^ b ^ c ^ abc ^ bd);
          a = y0; b = y1; c = y2; d = y3;
        }
        a = rol(a, 13); c = rol(c, 3); b = rol(b ^ a ^ c, 1); d = rol(d ^ c ^ (a << 3), 7);
        a = rol(a ^ b ^ d, 5); c = rol(c ^ d ^ (b << 7), 22);
        a ^= k[r + 12]!; b ^= k[r + 13]!; c ^= k[r + 14]!; d ^= k[r + 15]!;
        { // S3
          const ab = a & b, ac = a & c, bc = b & c, ad = a & d, bd = b & d, cd = c & d, abc = bc & a, abd = bd & a;
          const acd = cd & a, bcd = cd & b;
          const y0 = a ^ b ^ bc ^ d ^ ad ^ cd ^ acd ^ bcd;
          const y1 = a ^ b ^ ac ^ ad ^ abd ^ cd ^ acd;
          const y2 = a ^ ab ^ c ^ abc ^ d ^ bd ^ abd;
          const y3 = a ^ b ^ ab ^ c ^ ac ^ abc ^ d ^ cd ^ acd;
          a = y0; b = y1; c = y2; d = y3;
        }
        a = rol(a, 13); c = rol(c, 3); b = rol(b ^ a ^ c, 1); d = rol(d ^ c ^ (a << 3), 7);
        a = rol(a ^ b ^ d, 5); c = rol(c ^ d ^ (b << 7), 22);
        a ^= k[r + 16]!; b ^= k[r + 17]!; c ^= k[r + 18]!; d ^= k[r + 19]!;
        { // S4
          const ab = a & b, ac = a & c, bc = b & c, ad = a & d, bd = b & d, cd = c & d, abc = bc & a, abd = bd & a;
          const acd = cd & a, bcd = cd & b;
          const y0 = ~(b ^ ab ^ c ^ d ^ ad ^ bd);
          const y1 = a ^ ac ^ bc ^ d ^ bd ^ cd ^ acd ^ bcd;
          const y2 = a ^ ab ^ c ^ bc ^ abc ^ bd ^ abd ^ cd ^ bcd;
          const y3 = a ^ b ^ c ^ bc ^ ad ^ bd ^ abd;
          a = y0; b = y1; c = y2; d = y3;
        }
        a = rol(a, 13); c = rol(c, 3); b = rol(b ^ a ^ c, 1); d = rol(d ^ c ^ (a << 3), 7);
        a = rol(a ^ b ^ d, 5); c = rol(c ^ d ^ (b << 7), 22);
        a ^= k[r + 20]!; b ^= k[r + 21]!; c ^= k[r + 22]!; d ^= k[r + 23]!;
        { // S5
          const ab = a & b, ac = a & c, ad = a & d, bd = b & d, cd = c & d, abc = ac & b, abd = bd & a, acd = cd & a;
          const bcd = cd & b;
          const y0 = ~(b ^ ab ^ c ^ d ^ ad ^ bd);
          const y1 = ~(a ^ ab ^ c ^ d ^ bd ^ abd ^ cd);
          const y2 = ~(b ^ ac ^ d ^ abd ^ cd ^ acd ^ bcd);
          const y3 = ~(a ^ b ^ c ^ abc ^ d ^ ad ^ acd);
          a = y0; b = y1; c = y2; d = y3;
        }
        a = rol(a, 13); c = rol(c, 3); b = rol(b ^ a ^ c, 1); d = rol(d ^ c ^ (a << 3), 7);
        a = rol(a ^ b ^ d, 5); c = rol(c ^ d ^ (b << 7), 22);
        a ^= k[r + 24]!; b ^= k[r + 25]!; c ^= k[r + 26]!; d ^= k[r + 27]!;
        { // S6
          const ab = a & b, ac = a & c, bc = b & c, ad = a & d, bd = b & d, cd = c & d, abc = bc & a, abd = bd & a;
          const bcd = cd & b;
          const y0 = ~(a ^ b ^ c ^ ac ^ bc ^ abc ^ d ^ abd ^ bcd);
          const y1 = ~(b ^ c ^ ad);
          const y2 = ~(a ^ ab ^ c ^ bc ^ abc ^ bd ^ abd ^ cd ^ bcd);
          const y3 = b ^ ab ^ c ^ ac ^ abc ^ d ^ cd ^ bcd;
          a = y0; b = y1; c = y2; d = y3;
        }
        a = rol(a, 13); c = rol(c, 3); b = rol(b ^ a ^ c, 1); d = rol(d ^ c ^ (a << 3), 7);
        a = rol(a ^ b ^ d, 5); c = rol(c ^ d ^ (b << 7), 22);
        a ^= k[r + 28]!; b ^= k[r + 29]!; c ^= k[r + 30]!; d ^= k[r + 31]!;
        { // S7
          const ab = a & b, ac = a & c, bc = b & c, ad = a & d, bd = b & d, cd = c & d, abc = bc & a, abd = bd & a;
          const acd = cd & a, bcd = cd & b;
          const y0 = ~(ab ^ c ^ ad ^ bd ^ cd ^ acd ^ bcd);
          const y1 = b ^ ab ^ c ^ ac ^ bc ^ d ^ ad ^ abd ^ acd;
          const y2 = a ^ b ^ c ^ abc ^ d ^ ad ^ bd ^ abd ^ bcd;
          const y3 = a ^ b ^ c ^ ac ^ abc ^ ad;
          a = y0; b = y1; c = y2; d = y3;
        }
        if (r < 96) {
          a = rol(a, 13); c = rol(c, 3); b = rol(b ^ a ^ c, 1); d = rol(d ^ c ^ (a << 3), 7);
          a = rol(a ^ b ^ d, 5); c = rol(c ^ d ^ (b << 7), 22);
        }
      }
      a ^= k[128]!; b ^= k[129]!; c ^= k[130]!; d ^= k[131]!;
      putLe32(data, at, a); putLe32(data, at + 4, b); putLe32(data, at + 8, c); putLe32(data, at + 12, d);
    }
  }

  decryptBlocks(data: Uint8Array, start = 0, end = data.length): void {
    checkRun('serpent', 16, start, end, data.length);
    const k = this.k;
    for (let at = start; at < end; at += 16) {
      let a = le32(data, at) ^ k[128]!, b = le32(data, at + 4) ^ k[129]!, c = le32(data, at + 8) ^ k[130]!, d = le32(data, at + 12) ^ k[131]!;
      for (let r = 96; r >= 0; r -= 32) {
        if (r < 96) {
          a = rol(a, 27); c = rol(c, 10); c ^= d ^ (b << 7); a ^= b ^ d;
          d = rol(d, 25) ^ c ^ (a << 3); b = rol(b, 31) ^ a ^ c; a = rol(a, 19); c = rol(c, 29);
        }
        { // S7 inverse
          const ab = a & b, ac = a & c, bc = b & c, ad = a & d, bd = b & d, cd = c & d, abc = bc & a, abd = bd & a;
          const acd = cd & a, bcd = cd & b;
          const y0 = ~(a ^ b ^ bc ^ bd ^ abd ^ cd ^ bcd);
          const y1 = ~(a ^ c ^ bc ^ d ^ ad ^ bd ^ acd ^ bcd);
          const y2 = b ^ ac ^ d ^ abd ^ cd ^ acd;
          const y3 = ab ^ c ^ abc ^ ad ^ bd ^ abd;
          a = y0; b = y1; c = y2; d = y3;
        }
        a ^= k[r + 28]!; b ^= k[r + 29]!; c ^= k[r + 30]!; d ^= k[r + 31]!;
        a = rol(a, 27); c = rol(c, 10); c ^= d ^ (b << 7); a ^= b ^ d;
        d = rol(d, 25) ^ c ^ (a << 3); b = rol(b, 31) ^ a ^ c; a = rol(a, 19); c = rol(c, 29);
        { // S6 inverse
          const ab = a & b, ac = a & c, bc = b & c, ad = a & d, bd = b & d, cd = c & d, abc = bc & a, abd = bd & a;
          const bcd = cd & b;
          const y0 = ~(a ^ ab ^ ac ^ bc ^ abc ^ d ^ abd ^ bcd);
          const y1 = ~(b ^ c ^ ac ^ d);
          const y2 = ~(a ^ b ^ bc ^ bd ^ abd ^ cd ^ bcd);
          const y3 = ~(b ^ ab ^ c ^ bc ^ abc ^ d ^ ad ^ abd ^ cd ^ bcd);
          a = y0; b = y1; c = y2; d = y3;
        }
        a ^= k[r + 24]!; b ^= k[r + 25]!; c ^= k[r + 26]!; d ^= k[r + 27]!;
        a = rol(a, 27); c = rol(c, 10); c ^= d ^ (b << 7); a ^= b ^ d;
        d = rol(d, 25) ^ c ^ (a << 3); b = rol(b, 31) ^ a ^ c; a = rol(a, 19); c = rol(c, 29);
        { // S5 inverse
          const ab = a & b, ac = a & c, bc = b & c, ad = a & d, bd = b & d, abc = bc & a, abd = bd & a, acd = ad & c;
          const y0 = a ^ bc ^ d ^ abd;
          const y1 = a ^ b ^ ac ^ bc ^ abc ^ d ^ ad ^ abd;
          const y2 = a ^ ab ^ c ^ bd ^ abd ^ acd;
          const y3 = ~(b ^ ab ^ c ^ abc ^ ad);
          a = y0; b = y1; c = y2; d = y3;
        }
        a ^= k[r + 20]!; b ^= k[r + 21]!; c ^= k[r + 22]!; d ^= k[r + 23]!;
        a = rol(a, 27); c = rol(c, 10); c ^= d ^ (b << 7); a ^= b ^ d;
        d = rol(d, 25) ^ c ^ (a << 3); b = rol(b, 31) ^ a ^ c; a = rol(a, 19); c = rol(c, 29);
        { // S4 inverse
          const ab = a & b, ac = a & c, ad = a & d, bd = b & d, cd = c & d, abc = ac & b, abd = bd & a, acd = cd & a;
          const y0 = ~(a ^ b ^ c ^ d ^ ad ^ abd ^ cd ^ acd);
          const y1 = ab ^ c ^ ac ^ d ^ ad ^ acd;
          const y2 = ~(a ^ b ^ ab ^ c ^ ac ^ abc ^ d ^ bd ^ abd);
          const y3 = b ^ ab ^ c ^ ad ^ abd ^ cd;
          a = y0; b = y1; c = y2; d = y3;
        }
        a ^= k[r + 16]!; b ^= k[r + 17]!; c ^= k[r + 18]!; d ^= k[r + 19]!;
        a = rol(a, 27); c = rol(c, 10); c ^= d ^ (b << 7); a ^= b ^ d;
        d = rol(d, 25) ^ c ^ (a << 3); b = rol(b, 31) ^ a ^ c; a = rol(a, 19); c = rol(c, 29);
        { // S3 inverse
          const ab = a & b, ac = a & c, bc = b & c, ad = a & d, bd = b & d, cd = c & d, abc = bc & a, abd = bd & a;
          const acd = cd & a, bcd = cd & b;
          const y0 = a ^ c ^ bc ^ d ^ ad ^ bd ^ bcd;
          const y1 = b ^ c ^ bc ^ abc ^ d ^ ad ^ acd ^ bcd;
          const y2 = ab ^ ac ^ bc ^ ad ^ bd ^ abd ^ cd ^ acd;
          const y3 = a ^ b ^ c ^ ac ^ abc ^ ad ^ abd ^ cd;
          a = y0; b = y1; c = y2; d = y3;
        }
        a ^= k[r + 12]!; b ^= k[r + 13]!; c ^= k[r + 14]!; d ^= k[r + 15]!;
        a = rol(a, 27); c = rol(c, 10); c ^= d ^ (b << 7); a ^= b ^ d;
        d = rol(d, 25) ^ c ^ (a << 3); b = rol(b, 31) ^ a ^ c; a = rol(a, 19); c = rol(c, 29);
        { // S2 inverse
          const ab = a & b, bc = b & c, ad = a & d, bd = b & d, cd = c & d, abc = bc & a, abd = bd & a, acd = cd & a;
          const y0 = a ^ b ^ c ^ bc ^ bd;
          const y1 = b ^ ab ^ c ^ ad ^ abd ^ cd ^ acd;
          const y2 = ~(a ^ ab ^ c ^ d ^ ad ^ bd ^ abd ^ acd);
          const y3 = ~(ab ^ bc ^ abc ^ d ^ acd);
          a = y0; b = y1; c = y2; d = y3;
        }
        a ^= k[r + 8]!; b ^= k[r + 9]!; c ^= k[r + 10]!; d ^= k[r + 11]!;
        a = rol(a, 27); c = rol(c, 10); c ^= d ^ (b << 7); a ^= b ^ d;
        d = rol(d, 25) ^ c ^ (a << 3); b = rol(b, 31) ^ a ^ c; a = rol(a, 19); c = rol(c, 29);
        { // S1 inverse
          const ab = a & b, ac = a & c, bc = b & c, ad = a & d, bd = b & d, abc = bc & a, acd = ad & c, bcd = bd & c;
          const y0 = ~(a ^ b ^ ab ^ abc ^ bd ^ acd ^ bcd);
          const y1 = b ^ c ^ abc ^ d ^ ad ^ bd ^ acd ^ bcd;
          const y2 = ~(a ^ b ^ ac ^ bc ^ abc ^ d ^ acd);
          const y3 = a ^ c ^ d ^ bd;
          a = y0; b = y1; c = y2; d = y3;
        }
        a ^= k[r + 4]!; b ^= k[r + 5]!; c ^= k[r + 6]!; d ^= k[r + 7]!;
        a = rol(a, 27); c = rol(c, 10); c ^= d ^ (b << 7); a ^= b ^ d;
        d = rol(d, 25) ^ c ^ (a << 3); b = rol(b, 31) ^ a ^ c; a = rol(a, 19); c = rol(c, 29);
        { // S0 inverse
          const ab = a & b, ac = a & c, bc = b & c, ad = a & d, bd = b & d, cd = c & d, abd = bd & a, acd = cd & a;
          const bcd = cd & b;
          const y0 = ~(ab ^ c ^ bc ^ ad ^ bd ^ abd ^ cd ^ acd ^ bcd);
          const y1 = a ^ b ^ c ^ ac ^ bd ^ acd ^ bcd;
          const y2 = ~(a ^ b ^ ab ^ c ^ d);
          const y3 = ~(a ^ bc ^ d ^ abd ^ cd ^ acd ^ bcd);
          a = y0; b = y1; c = y2; d = y3;
        }
        a ^= k[r]!; b ^= k[r + 1]!; c ^= k[r + 2]!; d ^= k[r + 3]!;
      }
      putLe32(data, at, a); putLe32(data, at + 4, b); putLe32(data, at + 8, c); putLe32(data, at + 12, d);
    }
  }
}
