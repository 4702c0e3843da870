// Argument checks shared by the I/O commands, with qemu-io's messages.
import { MAX_REQUEST_BYTES, parsePattern } from '../numbers.js';
import type { Session } from '../session.js';

/**
 * Monotonic whole nanoseconds as a number: hrtime.bigint() allocated a BigInt
 * per call (two per command) and made every report do BigInt arithmetic.
 * performance.now() is the same clock in milliseconds, and allocates nothing.
 */
export const now = (): number => Math.round(performance.now() * 1e6);

/** -P's argument; prints qemu-io's complaint when it is not a byte. */
export function patternArg(s: Session, arg: string): number | undefined {
  const p = parsePattern(arg);
  if (p === undefined) s.out(`${arg} is not a valid pattern byte\n`);
  return p;
}

/** The length argument of read/write/discard, bounded by BDRV_REQUEST_MAX_BYTES. */
export function countArg(s: Session, arg: string, suffix = ''): number | undefined {
  const count = s.num(arg);
  if (count !== undefined && count > MAX_REQUEST_BYTES) {
    s.out(`length cannot exceed ${MAX_REQUEST_BYTES}${suffix}, given ${arg}\n`);
    return undefined;
  }
  return count;
}

/** readv/writev/aio length list: sizes of each buffer, bounded individually and in total. */
export function iovLengths(s: Session, args: string[]): number[] | undefined {
  const lens: number[] = [];
  let total = 0;
  for (const arg of args) {
    const len = s.num(arg);
    if (len === undefined) return undefined;
    if (len > MAX_REQUEST_BYTES) {
      s.out(`Argument '${arg}' exceeds maximum size ${MAX_REQUEST_BYTES}\n`);
      return undefined;
    }
    if (total > MAX_REQUEST_BYTES - len) {
      s.out(`The total number of bytes exceed the maximum size ${MAX_REQUEST_BYTES}\n`);
      return undefined;
    }
    lens.push(len);
    total += len;
  }
  return lens;
}

/** Views of `buf` cut to `lens` (zero-length pieces dropped: they carry nothing). */
export function splitIov(buf: Uint8Array, lens: number[]): Uint8Array[] {
  const iov: Uint8Array[] = [];
  let at = 0;
  for (const len of lens) {
    if (len > 0) iov.push(buf.subarray(at, at + len));
    at += len;
  }
  return iov;
}

/** read -b: offset and count in whole sectors, as qemu-io checks them (write checks its own, with -c). */
export function sectorAligned(s: Session, offset: number, count: number): boolean {
  if (offset % 512 !== 0) {
    s.out(`${offset} is not a sector-aligned value for 'offset'\n`);
    return false;
  }
  if (count % 512 !== 0) {
    s.out(`${count} is not a sector-aligned value for 'count'\n`);
    return false;
  }
  return true;
}
