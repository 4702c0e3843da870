// Reference semantics of the arithmetic ops, shared by the IR interpreter and
// the constant folder. All values are int32 (signed representation).
import { MemOp } from './ir.js';

/** High 32 bits of the unsigned 64-bit product a*b. */
export function umulh(a: number, b: number): number {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const lh = al * bh, hl = ah * bl;
  const mid = ((al * bl) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) | 0;
}

/** High 32 bits of the signed 64-bit product a*b. */
export function smulh(a: number, b: number): number {
  let h = umulh(a, b);
  if (a < 0) h = (h - b) | 0;
  if (b < 0) h = (h - a) | 0;
  return h;
}

export function divs(a: number, b: number): number {
  if (b === 0) return 0;
  if (a === -0x80000000 && b === -1) return a;
  return (a / b) | 0;
}

export function divu(a: number, b: number): number {
  if (b === 0) return 0;
  return ((a >>> 0) / (b >>> 0)) | 0;
}

export function bswap32(a: number): number {
  return (a << 24) | ((a & 0xff00) << 8) | ((a >>> 8) & 0xff00) | (a >>> 24);
}

export function rotr(a: number, n: number): number {
  return (a >>> n) | (a << (32 - n));
}

/** A load's result from the raw little-endian value of its size: byte-swapped and sign-extended as its MemOp says. */
export function loadedValue(raw: number, mo: number): number {
  const size = mo & MemOp.sizeMask;
  let x = raw;
  if (mo & MemOp.bswap) x = size === 1 ? ((x & 0xff) << 8) | ((x >>> 8) & 0xff) : size === 2 ? bswap32(x) : x;
  if (mo & MemOp.sign) x = size === 0 ? (x << 24) >> 24 : size === 1 ? (x << 16) >> 16 : x;
  return x | 0;
}
