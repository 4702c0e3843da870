// Twofish (Schneier, Kelsey, Whiting, Wagner, Hall, Ferguson; the AES
// submission paper): a 16-round Feistel network on four little-endian 32-bit
// words with input and output whitening. Its g function (key-dependent S-boxes
// built from the fixed permutations q0 and q1, then the MDS matrix) is
// precomputed per key as four 256-entry tables, the paper's "full keying",
// so a round is eight table lookups. Keys of 16, 24 or 32 bytes.
import { checkRun, le32, putLe32, type BlockCipher } from './block-cipher.js';

/** The 4-bit permutations t0..t3 that make q0 and q1 (the paper's section 4.3.5). */
const Q_TABLES = [
  [
    [0x8, 0x1, 0x7, 0xd, 0x6, 0xf, 0x3, 0x2, 0x0, 0xb, 0x5, 0x9, 0xe, 0xc, 0xa, 0x4],
    [0xe, 0xc, 0xb, 0x8, 0x1, 0x2, 0x3, 0x5, 0xf, 0x4, 0xa, 0x6, 0x7, 0x0, 0x9, 0xd],
    [0xb, 0xa, 0x5, 0xe, 0x6, 0xd, 0x9, 0x0, 0xc, 0x8, 0xf, 0x3, 0x2, 0x4, 0x7, 0x1],
    [0xd, 0x7, 0xf, 0x4, 0x1, 0x2, 0x6, 0xe, 0x9, 0xb, 0x3, 0x0, 0x8, 0x5, 0xc, 0xa],
  ],
  [
    [0x2, 0x8, 0xb, 0xd, 0xf, 0x7, 0x6, 0xe, 0x3, 0x1, 0x9, 0x4, 0x0, 0xa, 0xc, 0x5],
    [0x1, 0xe, 0x2, 0xb, 0x4, 0xc, 0x3, 0x7, 0x6, 0xd, 0xa, 0x5, 0xf, 0x9, 0x0, 0x8],
    [0x4, 0xc, 0x7, 0x5, 0x1, 0x6, 0x9, 0xa, 0x0, 0xe, 0xd, 0x8, 0x2, 0xb, 0x3, 0xf],
    [0xb, 0x9, 0x5, 0x1, 0xc, 0x3, 0xd, 0xe, 0x6, 0x4, 0x7, 0xf, 0x2, 0x0, 0x8, 0xa],
  ],
];

/** The MDS matrix (over GF(2^8) modulo x^8+x^6+x^5+x^3+1) and the Reed-Solomon matrix (modulo x^8+x^6+x^3+x^2+1). */
const MDS = [
  [0x01, 0xef, 0x5b, 0x5b],
  [0x5b, 0xef, 0xef, 0x01],
  [0xef, 0x5b, 0x01, 0xef],
  [0xef, 0x01, 0xef, 0x5b],
];
const RS = [
  [0x01, 0xa4, 0x55, 0x87, 0x5a, 0x58, 0xdb, 0x9e],
  [0xa4, 0x56, 0x82, 0xf3, 0x1e, 0xc6, 0x68, 0xe5],
  [0x02, 0xa1, 0xfc, 0xc1, 0x47, 0xae, 0x3d, 0x19],
  [0xa4, 0x55, 0x87, 0x5a, 0x58, 0xdb, 0x9e, 0x03],
];
const MDS_POLY = 0x169;
const RS_POLY = 0x14d;

/** a times b in GF(2^8) modulo `poly`. */
function gfMul(a: number, b: number, poly: number): number {
  let r = 0;
  for (; b !== 0; b >>= 1) {
    if (b & 1) r ^= a;
    a <<= 1;
    if (a & 0x100) a ^= poly;
  }
  return r;
}

/** q0 or q1 from its four 4-bit permutations: two rounds of nibble mixing and lookups. */
function buildQ(t: readonly (readonly number[])[]): Uint8Array {
  const ror4 = (x: number): number => ((x >> 1) | (x << 3)) & 15;
  const q = new Uint8Array(256);
  for (let x = 0; x < 256; x++) {
    let a = x >> 4, b = x & 15;
    for (let round = 0; round < 2; round++) {
      const a1 = a ^ b, b1 = (a ^ ror4(b) ^ (8 * a)) & 15;
      a = t[2 * round]![a1]!;
      b = t[2 * round + 1]![b1]!;
    }
    q[x] = (b << 4) | a;
  }
  return q;
}

/** q0, q1 and the MDS columns: built on the first key schedule, not at every tool's start-up (~1.5 ms). */
interface FixedTables { readonly q0: Uint8Array; readonly q1: Uint8Array; readonly mdsColumns: readonly Int32Array[] }
let fixed: FixedTables | undefined;

function fixedTables(): FixedTables {
  if (fixed) return fixed;
  /** MDS column j times y, as a little-endian word (row i in byte i), for every byte y. */
  const mdsColumns = [0, 1, 2, 3].map((j) => {
    const col = new Int32Array(256);
    for (let y = 0; y < 256; y++) {
      col[y] = gfMul(MDS[0]![j]!, y, MDS_POLY) | (gfMul(MDS[1]![j]!, y, MDS_POLY) << 8)
        | (gfMul(MDS[2]![j]!, y, MDS_POLY) << 16) | (gfMul(MDS[3]![j]!, y, MDS_POLY) << 24);
    }
    return col;
  });
  return (fixed = { q0: buildQ(Q_TABLES[0]!), q1: buildQ(Q_TABLES[1]!), mdsColumns });
}

/**
 * The permutation chain of byte `j` of h's input, through the key words `l`
 * (L0..L(k-1), outermost last): the paper's h function before the MDS matrix.
 */
function hByte(j: number, x: number, l: readonly number[]): number {
  const { q0, q1 } = fixedTables();
  const byte = (w: number): number => (w >>> (8 * j)) & 0xff;
  // Per byte position, which of q0 / q1 each stage uses (from the k = 4 stage inwards).
  const k = l.length;
  if (k === 4) x = (j === 0 || j === 3 ? q1 : q0)[x]! ^ byte(l[3]!);
  if (k >= 3) x = (j < 2 ? q1 : q0)[x]! ^ byte(l[2]!);
  x = (j === 0 || j === 2 ? q0 : q1)[x]! ^ byte(l[1]!);
  x = (j < 2 ? q0 : q1)[x]! ^ byte(l[0]!);
  return (j === 1 || j === 3 ? q0 : q1)[x]!;
}

function h(x: number, l: readonly number[]): number {
  const mds = fixedTables().mdsColumns;
  let z = 0;
  for (let j = 0; j < 4; j++) z ^= mds[j]![hByte(j, (x >>> (8 * j)) & 0xff, l)]!;
  return z;
}

const rol = (x: number, n: number): number => (x << n) | (x >>> (32 - n));

export class Twofish implements BlockCipher {
  readonly blockSize = 16;
  /** K0..K39: whitening (0-7) and round keys. */
  private readonly k = new Int32Array(40);
  /** g's byte-position tables: g(X) = s0[X0] ^ s1[X1] ^ s2[X2] ^ s3[X3]. */
  private readonly s0 = new Int32Array(256);
  private readonly s1 = new Int32Array(256);
  private readonly s2 = new Int32Array(256);
  private readonly s3 = new Int32Array(256);

  constructor(key: Uint8Array) {
    if (key.length !== 16 && key.length !== 24 && key.length !== 32) throw new RangeError(`twofish: a ${key.length}-byte key`);
    const words = key.length / 8; // the paper's k
    const me: number[] = [], mo: number[] = [], s: number[] = [];
    for (let i = 0; i < words; i++) {
      me.push(le32(key, 8 * i));
      mo.push(le32(key, 8 * i + 4));
      // S_i: the RS matrix times key bytes 8i..8i+7; g uses them last first (S_k-1 is L0).
      let si = 0;
      for (let r = 0; r < 4; r++) {
        let v = 0;
        for (let c = 0; c < 8; c++) v ^= gfMul(RS[r]![c]!, key[8 * i + c]!, RS_POLY);
        si |= v << (8 * r);
      }
      s.unshift(si);
    }
    const rho = 0x01010101;
    for (let i = 0; i < 20; i++) {
      const a = h(Math.imul(2 * i, rho), me);
      const b = rol(h(Math.imul(2 * i + 1, rho), mo), 8);
      this.k[2 * i] = a + b;
      this.k[2 * i + 1] = rol((a + 2 * b) | 0, 9);
    }
    const tables = [this.s0, this.s1, this.s2, this.s3], mds = fixedTables().mdsColumns;
    for (let j = 0; j < 4; j++) {
      for (let x = 0; x < 256; x++) tables[j]![x] = mds[j]![hByte(j, x, s)]!;
    }
  }

  encryptBlocks(data: Uint8Array, start = 0, end = data.length): void {
    checkRun('twofish', 16, start, end, data.length);
    const k = this.k, s0 = this.s0, s1 = this.s1, s2 = this.s2, s3 = this.s3;
    for (let at = start; at < end; at += 16) {
      let a = le32(data, at) ^ k[0]!, b = le32(data, at + 4) ^ k[1]!, c = le32(data, at + 8) ^ k[2]!, d = le32(data, at + 12) ^ k[3]!;
      // Two rounds a pass, so the halves swap places instead of values.
      for (let r = 8; r < 40; r += 4) {
        let t0 = s0[a & 0xff]! ^ s1[(a >>> 8) & 0xff]! ^ s2[(a >>> 16) & 0xff]! ^ s3[a >>> 24]!;
        let t1 = s0[b >>> 24]! ^ s1[b & 0xff]! ^ s2[(b >>> 8) & 0xff]! ^ s3[(b >>> 16) & 0xff]!; // g(b <<< 8)
        c = rol(c ^ ((t0 + t1 + k[r]!) | 0), 31);
        d = rol(d, 1) ^ ((t0 + 2 * t1 + k[r + 1]!) | 0);
        t0 = s0[c & 0xff]! ^ s1[(c >>> 8) & 0xff]! ^ s2[(c >>> 16) & 0xff]! ^ s3[c >>> 24]!;
        t1 = s0[d >>> 24]! ^ s1[d & 0xff]! ^ s2[(d >>> 8) & 0xff]! ^ s3[(d >>> 16) & 0xff]!;
        a = rol(a ^ ((t0 + t1 + k[r + 2]!) | 0), 31);
        b = rol(b, 1) ^ ((t0 + 2 * t1 + k[r + 3]!) | 0);
      }
      // The last round's swap undone: c, d come out first.
      putLe32(data, at, c ^ k[4]!); putLe32(data, at + 4, d ^ k[5]!); putLe32(data, at + 8, a ^ k[6]!); putLe32(data, at + 12, b ^ k[7]!);
    }
  }

  decryptBlocks(data: Uint8Array, start = 0, end = data.length): void {
    checkRun('twofish', 16, start, end, data.length);
    const k = this.k, s0 = this.s0, s1 = this.s1, s2 = this.s2, s3 = this.s3;
    for (let at = start; at < end; at += 16) {
      let c = le32(data, at) ^ k[4]!, d = le32(data, at + 4) ^ k[5]!, a = le32(data, at + 8) ^ k[6]!, b = le32(data, at + 12) ^ k[7]!;
      for (let r = 36; r >= 8; r -= 4) {
        let t0 = s0[c & 0xff]! ^ s1[(c >>> 8) & 0xff]! ^ s2[(c >>> 16) & 0xff]! ^ s3[c >>> 24]!;
        let t1 = s0[d >>> 24]! ^ s1[d & 0xff]! ^ s2[(d >>> 8) & 0xff]! ^ s3[(d >>> 16) & 0xff]!;
        a = rol(a, 1) ^ ((t0 + t1 + k[r + 2]!) | 0);
        b = rol(b ^ ((t0 + 2 * t1 + k[r + 3]!) | 0), 31);
        t0 = s0[a & 0xff]! ^ s1[(a >>> 8) & 0xff]! ^ s2[(a >>> 16) & 0xff]! ^ s3[a >>> 24]!;
        t1 = s0[b >>> 24]! ^ s1[b & 0xff]! ^ s2[(b >>> 8) & 0xff]! ^ s3[(b >>> 16) & 0xff]!;
        c = rol(c, 1) ^ ((t0 + t1 + k[r]!) | 0);
        d = rol(d ^ ((t0 + 2 * t1 + k[r + 1]!) | 0), 31);
      }
      putLe32(data, at, a ^ k[0]!); putLe32(data, at + 4, b ^ k[1]!); putLe32(data, at + 8, c ^ k[2]!); putLe32(data, at + 12, d ^ k[3]!);
    }
  }
}
