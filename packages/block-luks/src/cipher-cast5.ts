// CAST-128 (CAST5), RFC 2144: a Feistel network on two big-endian 32-bit
// halves of an 8-byte block, 16 rounds (12 for keys of 80 bits or less) whose
// functions f1, f2, f3 take turns, each keyed by a 32-bit masking key and a
// 5-bit rotation; keys of 5 to 16 bytes, zero-padded to 16. LUKS uses the
// 128-bit key (QEMU's cast5-128) with 8-byte IVs.
import { be32, checkRun, putBe32, type BlockCipher } from './block-cipher.js';
import { CAST5_SBOX_HEX } from './cipher-cast5-sboxes.js';

// The eight S-boxes, parsed from their hex text by the first key schedule
// (loadSboxes) rather than at every tool's start-up (~1 ms); empty until then.
const EMPTY: Int32Array = new Int32Array(256);
let S1 = EMPTY, S2 = EMPTY, S3 = EMPTY, S4 = EMPTY, S5 = EMPTY, S6 = EMPTY, S7 = EMPTY, S8 = EMPTY;

function loadSboxes(): void {
  if (S1 !== EMPTY) return;
  [S1, S2, S3, S4, S5, S6, S7, S8] = CAST5_SBOX_HEX.map((text) => {
    const box = new Int32Array(256);
    (text.match(/[0-9a-f]{8}/g) ?? []).forEach((word, i) => void (box[i] = parseInt(word, 16)));
    return box;
  }) as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
}

const rol = (x: number, n: number): number => (x << n) | (x >>> (32 - n));

// The three round functions (RFC 2144 section 2.2) of the half `d` with masking key `km` and rotation `kr`.
function f1(d: number, km: number, kr: number): number {
  const x = rol(km + d, kr);
  return ((S1[x >>> 24]! ^ S2[(x >>> 16) & 0xff]!) - S3[(x >>> 8) & 0xff]! + S4[x & 0xff]!) | 0;
}

function f2(d: number, km: number, kr: number): number {
  const x = rol(km ^ d, kr);
  return ((S1[x >>> 24]! - S2[(x >>> 16) & 0xff]! + S3[(x >>> 8) & 0xff]!) | 0) ^ S4[x & 0xff]!;
}

function f3(d: number, km: number, kr: number): number {
  const x = rol(km - d, kr);
  return (((S1[x >>> 24]! + S2[(x >>> 16) & 0xff]!) ^ S3[(x >>> 8) & 0xff]!) - S4[x & 0xff]!) | 0;
}

/** Scratch for a key zero-padded to 16 bytes. */
const PADDED = new Uint8Array(16);

/** Byte 0 (the most significant) .. 3 of a big-endian word: x0..x3 of x0x1x2x3. */
const b0 = (w: number): number => w >>> 24;
const b1 = (w: number): number => (w >>> 16) & 0xff;
const b2 = (w: number): number => (w >>> 8) & 0xff;
const b3 = (w: number): number => w & 0xff;

export class Cast5 implements BlockCipher {
  readonly blockSize = 8;
  private readonly rounds: number;
  /** Km1..Km16 then Kr1..Kr16 (only the low 5 bits of these count). */
  private readonly k = new Int32Array(32);

  constructor(key: Uint8Array) {
    if (key.length < 5 || key.length > 16) throw new RangeError(`cast5: a ${key.length}-byte key`);
    this.rounds = key.length <= 10 ? 12 : 16;
    loadSboxes();
    const k = this.k;
    // RFC 2144 section 2.4 with x0..xF and z0..zF as four big-endian words
    // each (x0 is x0x1x2x3, ...): four steps, each turning x into z or z into
    // x and taking four subkeys from the result; all twice (masking keys, then rotations).
    const w = PADDED.fill(0);
    w.set(key);
    let x0 = be32(w, 0), x1 = be32(w, 4), x2 = be32(w, 8), x3 = be32(w, 12), z0 = 0, z1 = 0, z2 = 0, z3 = 0;
    for (let at = 0; at < 32; at += 16) {
      // z0z1z2z3 / z4z5z6z7 / z8z9zAzB / zCzDzEzF, then K1..K4 (K17..K20 the second time)
      z0 = x0 ^ S5[b1(x3)]! ^ S6[b3(x3)]! ^ S7[b0(x3)]! ^ S8[b2(x3)]! ^ S7[b0(x2)]!;
      z1 = x2 ^ S5[b0(z0)]! ^ S6[b2(z0)]! ^ S7[b1(z0)]! ^ S8[b3(z0)]! ^ S8[b2(x2)]!;
      z2 = x3 ^ S5[b3(z1)]! ^ S6[b2(z1)]! ^ S7[b1(z1)]! ^ S8[b0(z1)]! ^ S5[b1(x2)]!;
      z3 = x1 ^ S5[b2(z2)]! ^ S6[b1(z2)]! ^ S7[b3(z2)]! ^ S8[b0(z2)]! ^ S6[b3(x2)]!;
      k[at] = S5[b0(z2)]! ^ S6[b1(z2)]! ^ S7[b3(z1)]! ^ S8[b2(z1)]! ^ S5[b2(z0)]!;
      k[at + 1] = S5[b2(z2)]! ^ S6[b3(z2)]! ^ S7[b1(z1)]! ^ S8[b0(z1)]! ^ S6[b2(z1)]!;
      k[at + 2] = S5[b0(z3)]! ^ S6[b1(z3)]! ^ S7[b3(z0)]! ^ S8[b2(z0)]! ^ S7[b1(z2)]!;
      k[at + 3] = S5[b2(z3)]! ^ S6[b3(z3)]! ^ S7[b1(z0)]! ^ S8[b0(z0)]! ^ S8[b0(z3)]!;
      // x0x1x2x3 / x4x5x6x7 / x8x9xAxB / xCxDxExF, then K5..K8 (K21..K24 the second time)
      x0 = z2 ^ S5[b1(z1)]! ^ S6[b3(z1)]! ^ S7[b0(z1)]! ^ S8[b2(z1)]! ^ S7[b0(z0)]!;
      x1 = z0 ^ S5[b0(x0)]! ^ S6[b2(x0)]! ^ S7[b1(x0)]! ^ S8[b3(x0)]! ^ S8[b2(z0)]!;
      x2 = z1 ^ S5[b3(x1)]! ^ S6[b2(x1)]! ^ S7[b1(x1)]! ^ S8[b0(x1)]! ^ S5[b1(z0)]!;
      x3 = z3 ^ S5[b2(x2)]! ^ S6[b1(x2)]! ^ S7[b3(x2)]! ^ S8[b0(x2)]! ^ S6[b3(z0)]!;
      k[at + 4] = S5[b3(x0)]! ^ S6[b2(x0)]! ^ S7[b0(x3)]! ^ S8[b1(x3)]! ^ S5[b0(x2)]!;
      k[at + 5] = S5[b1(x0)]! ^ S6[b0(x0)]! ^ S7[b2(x3)]! ^ S8[b3(x3)]! ^ S6[b1(x3)]!;
      k[at + 6] = S5[b3(x1)]! ^ S6[b2(x1)]! ^ S7[b0(x2)]! ^ S8[b1(x2)]! ^ S7[b3(x0)]!;
      k[at + 7] = S5[b1(x1)]! ^ S6[b0(x1)]! ^ S7[b2(x2)]! ^ S8[b3(x2)]! ^ S8[b3(x1)]!;
      // z0z1z2z3 / z4z5z6z7 / z8z9zAzB / zCzDzEzF, then K9..K12 (K25..K28 the second time)
      z0 = x0 ^ S5[b1(x3)]! ^ S6[b3(x3)]! ^ S7[b0(x3)]! ^ S8[b2(x3)]! ^ S7[b0(x2)]!;
      z1 = x2 ^ S5[b0(z0)]! ^ S6[b2(z0)]! ^ S7[b1(z0)]! ^ S8[b3(z0)]! ^ S8[b2(x2)]!;
      z2 = x3 ^ S5[b3(z1)]! ^ S6[b2(z1)]! ^ S7[b1(z1)]! ^ S8[b0(z1)]! ^ S5[b1(x2)]!;
      z3 = x1 ^ S5[b2(z2)]! ^ S6[b1(z2)]! ^ S7[b3(z2)]! ^ S8[b0(z2)]! ^ S6[b3(x2)]!;
      k[at + 8] = S5[b3(z0)]! ^ S6[b2(z0)]! ^ S7[b0(z3)]! ^ S8[b1(z3)]! ^ S5[b1(z2)]!;
      k[at + 9] = S5[b1(z0)]! ^ S6[b0(z0)]! ^ S7[b2(z3)]! ^ S8[b3(z3)]! ^ S6[b0(z3)]!;
      k[at + 10] = S5[b3(z1)]! ^ S6[b2(z1)]! ^ S7[b0(z2)]! ^ S8[b1(z2)]! ^ S7[b2(z0)]!;
      k[at + 11] = S5[b1(z1)]! ^ S6[b0(z1)]! ^ S7[b2(z2)]! ^ S8[b3(z2)]! ^ S8[b2(z1)]!;
      // x0x1x2x3 / x4x5x6x7 / x8x9xAxB / xCxDxExF, then K13..K16 (K29..K32 the second time)
      x0 = z2 ^ S5[b1(z1)]! ^ S6[b3(z1)]! ^ S7[b0(z1)]! ^ S8[b2(z1)]! ^ S7[b0(z0)]!;
      x1 = z0 ^ S5[b0(x0)]! ^ S6[b2(x0)]! ^ S7[b1(x0)]! ^ S8[b3(x0)]! ^ S8[b2(z0)]!;
      x2 = z1 ^ S5[b3(x1)]! ^ S6[b2(x1)]! ^ S7[b1(x1)]! ^ S8[b0(x1)]! ^ S5[b1(z0)]!;
      x3 = z3 ^ S5[b2(x2)]! ^ S6[b1(x2)]! ^ S7[b3(x2)]! ^ S8[b0(x2)]! ^ S6[b3(z0)]!;
      k[at + 12] = S5[b0(x2)]! ^ S6[b1(x2)]! ^ S7[b3(x1)]! ^ S8[b2(x1)]! ^ S5[b3(x0)]!;
      k[at + 13] = S5[b2(x2)]! ^ S6[b3(x2)]! ^ S7[b1(x1)]! ^ S8[b0(x1)]! ^ S6[b3(x1)]!;
      k[at + 14] = S5[b0(x3)]! ^ S6[b1(x3)]! ^ S7[b3(x0)]! ^ S8[b2(x0)]! ^ S7[b0(x2)]!;
      k[at + 15] = S5[b2(x3)]! ^ S6[b3(x3)]! ^ S7[b1(x0)]! ^ S8[b0(x0)]! ^ S8[b1(x3)]!;
    }
    for (let i = 16; i < 32; i++) k[i]! &= 31;
  }

  // No halves are swapped: the rounds alternately update l and r, so six
  // rounds (f1, f2, f3 twice) make a pass; 12 and 16 rounds both end with
  // the halves in place, and the block comes out as (r, l) (the RFC's final swap).
  encryptBlocks(data: Uint8Array, start = 0, end = data.length): void {
    checkRun('cast5', 8, start, end, data.length);
    const k = this.k, long = this.rounds === 16;
    for (let at = start; at < end; at += 8) {
      let l = be32(data, at), r = be32(data, at + 4);
      for (let i = 0; i < 12; i += 6) {
        l ^= f1(r, k[i]!, k[i + 16]!);
        r ^= f2(l, k[i + 1]!, k[i + 17]!);
        l ^= f3(r, k[i + 2]!, k[i + 18]!);
        r ^= f1(l, k[i + 3]!, k[i + 19]!);
        l ^= f2(r, k[i + 4]!, k[i + 20]!);
        r ^= f3(l, k[i + 5]!, k[i + 21]!);
      }
      if (long) {
        l ^= f1(r, k[12]!, k[28]!);
        r ^= f2(l, k[13]!, k[29]!);
        l ^= f3(r, k[14]!, k[30]!);
        r ^= f1(l, k[15]!, k[31]!);
      }
      putBe32(data, at, r);
      putBe32(data, at + 4, l);
    }
  }

  /** The same network with the subkeys (and their round functions) in reverse order. */
  decryptBlocks(data: Uint8Array, start = 0, end = data.length): void {
    checkRun('cast5', 8, start, end, data.length);
    const k = this.k, long = this.rounds === 16;
    for (let at = start; at < end; at += 8) {
      let l = be32(data, at), r = be32(data, at + 4);
      if (long) {
        l ^= f1(r, k[15]!, k[31]!);
        r ^= f3(l, k[14]!, k[30]!);
        l ^= f2(r, k[13]!, k[29]!);
        r ^= f1(l, k[12]!, k[28]!);
      }
      for (let i = 6; i >= 0; i -= 6) {
        l ^= f3(r, k[i + 5]!, k[i + 21]!);
        r ^= f2(l, k[i + 4]!, k[i + 20]!);
        l ^= f1(r, k[i + 3]!, k[i + 19]!);
        r ^= f3(l, k[i + 2]!, k[i + 18]!);
        l ^= f2(r, k[i + 1]!, k[i + 17]!);
        r ^= f1(l, k[i]!, k[i + 16]!);
      }
      putBe32(data, at, r);
      putBe32(data, at + 4, l);
    }
  }
}
