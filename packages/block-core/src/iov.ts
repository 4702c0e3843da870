// I/O vector helpers (arrays of Uint8Array views) shared by the request layer and drivers.
import { BlockError } from './errors.js';

export function iovLength(iov: readonly Uint8Array[]): number {
  let n = 0;
  for (let i = 0; i < iov.length; i++) n += iov[i].byteLength;
  return n;
}

/** The bytes [start, start+length) of an iov, as a new iov of views (no copying). */
export function sliceIov(iov: readonly Uint8Array[], start: number, length: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let skip = start;
  let want = length;
  for (let i = 0; i < iov.length && want > 0; i++) {
    const buf = iov[i];
    if (skip >= buf.byteLength) {
      skip -= buf.byteLength;
      continue;
    }
    const n = Math.min(buf.byteLength - skip, want);
    out.push(skip === 0 && n === buf.byteLength ? buf : buf.subarray(skip, skip + n));
    want -= n;
    skip = 0;
  }
  return out;
}

/** Copies the whole iov into `dest` at `destOffset`. */
export function copyFromIov(iov: readonly Uint8Array[], dest: Uint8Array, destOffset: number): void {
  let pos = destOffset;
  for (let i = 0; i < iov.length; i++) {
    dest.set(iov[i], pos);
    pos += iov[i].byteLength;
  }
}

/** Copies `src` (from srcOffset) over the iov, filling it. */
export function copyToIov(src: Uint8Array, srcOffset: number, iov: readonly Uint8Array[]): void {
  let pos = srcOffset;
  for (let i = 0; i < iov.length; i++) {
    const buf = iov[i];
    buf.set(src.subarray(pos, pos + buf.byteLength));
    pos += buf.byteLength;
  }
}

/** Zero-fills bytes [start, end) of an iov. */
export function zeroIov(iov: readonly Uint8Array[], start: number, end: number): void {
  let base = 0;
  for (let i = 0; i < iov.length && base < end; i++) {
    const buf = iov[i];
    const from = Math.max(start - base, 0);
    const to = Math.min(end - base, buf.byteLength);
    if (from < to) buf.fill(0, from, to);
    base += buf.byteLength;
  }
}

/** EINVAL for negative, fractional or absurd offsets/lengths (QEMU's bdrv_check_request). */
export function checkRequest(offset: number, length: number): void {
  if (!(offset >= 0 && length >= 0 && Number.isSafeInteger(offset) && Number.isSafeInteger(length)) ||
      offset + length > Number.MAX_SAFE_INTEGER) {
    throw new BlockError('EINVAL');
  }
}

const ZERO_CHUNK_BYTES = 1 << 20;
let zeroChunk: Uint8Array | null = null;

/** A shared, never-written 1 MiB buffer of zeroes for write-zeroes fallbacks. */
export function sharedZeroes(): Uint8Array {
  return (zeroChunk ??= new Uint8Array(ZERO_CHUNK_BYTES));
}
