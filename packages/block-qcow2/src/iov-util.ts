// Byte ranges [pos, pos+n) of an I/O vector, on top of block-core's iov
// helpers; the common single-buffer case skips building a sliced vector.
import { copyFromIov, copyToIov, sliceIov, zeroIov } from '@tsemu/block-core';

/** Reads the iov range from `host` on, one read per iov piece (Qcow2HostFile and BlockNode both have `read`). */
export async function readIntoIov(
  file: { read(offset: number, buf: Uint8Array): Promise<void> },
  host: number, iov: readonly Uint8Array[], pos: number, n: number,
): Promise<void> {
  if (iov.length === 1) return file.read(host, iov[0]!.subarray(pos, pos + n));
  for (const piece of sliceIov(iov, pos, n)) {
    await file.read(host, piece);
    host += piece.byteLength;
  }
}

/** Writes the iov range to `host` on, one write per iov piece. */
export async function writeFromIov(
  file: { write(offset: number, buf: Uint8Array): Promise<void> },
  host: number, iov: readonly Uint8Array[], pos: number, n: number,
): Promise<void> {
  if (iov.length === 1) return file.write(host, iov[0]!.subarray(pos, pos + n));
  for (const piece of sliceIov(iov, pos, n)) {
    await file.write(host, piece);
    host += piece.byteLength;
  }
}

/** Zero-fills the iov range. */
export function zeroIovRange(iov: readonly Uint8Array[], pos: number, n: number): void {
  zeroIov(iov, pos, pos + n);
}

/** Copies `src[srcOff, srcOff+n)` into the iov range starting at `pos`. */
export function copyIntoIov(src: Uint8Array, srcOff: number, iov: readonly Uint8Array[], pos: number, n: number): void {
  if (iov.length === 1) iov[0]!.set(src.subarray(srcOff, srcOff + n), pos);
  else copyToIov(src, srcOff, sliceIov(iov, pos, n));
}

/** Copies the iov range into `dst` at `dstOff`. */
export function copyFromIovRange(iov: readonly Uint8Array[], pos: number, n: number, dst: Uint8Array, dstOff: number): void {
  if (iov.length === 1) dst.set(iov[0]!.subarray(pos, pos + n), dstOff);
  else copyFromIov(sliceIov(iov, pos, n), dst, dstOff);
}
