// Byte ranges [pos, pos+n) of an I/O vector, on top of block-core's iov
// helpers; the common single-buffer case skips building a sliced vector.
import { copyFromIov, copyToIov, sliceIov, zeroIov } from '@tsemu/block-core';

/** buf[pos, pos+n) without a new view when that is all of it (the usual single-buffer request). */
function whole(buf: Uint8Array, pos: number, n: number): Uint8Array {
  return pos === 0 && n === buf.byteLength ? buf : buf.subarray(pos, pos + n);
}

/** What readIntoIov needs: Qcow2HostFile, or a node below (BlockNode), whose readv takes no length. */
interface ReadTarget {
  read(offset: number, buf: Uint8Array): Promise<void>;
  readv?(offset: number, iov: Uint8Array[], length: number): Promise<void>;
}

/**
 * Reads the iov range from `host` on: one request, vectored when the range
 * spans several pieces (a read of one piece is sliced without building a vector).
 */
export function readIntoIov(file: ReadTarget, host: number, iov: readonly Uint8Array[], pos: number, n: number): Promise<void> {
  if (iov.length === 1) return file.read(host, whole(iov[0]!, pos, n));
  const pieces = sliceIov(iov, pos, n);
  if (pieces.length === 1) return file.read(host, pieces[0]!);
  if (file.readv !== undefined) return file.readv(host, pieces, n);
  return readPieces(file, host, pieces);
}

async function readPieces(file: ReadTarget, host: number, pieces: Uint8Array[]): Promise<void> {
  for (const piece of pieces) {
    await file.read(host, piece);
    host += piece.byteLength;
  }
}

/** Writes the iov range to `host` on: one request, vectored when the range spans several pieces. */
export function writeFromIov(
  file: { write(offset: number, buf: Uint8Array): Promise<void>; writev(offset: number, iov: Uint8Array[], length: number): Promise<void> },
  host: number, iov: readonly Uint8Array[], pos: number, n: number,
): Promise<void> {
  if (iov.length === 1) return file.write(host, whole(iov[0]!, pos, n));
  const pieces = sliceIov(iov, pos, n);
  return pieces.length === 1 ? file.write(host, pieces[0]!) : file.writev(host, pieces, n);
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
