// Structured READ replies that skip zeroes: like qemu-nbd, a read that the
// client lets us fragment (no DF flag) is answered with OFFSET_DATA chunks
// for data and OFFSET_HOLE chunks for ranges the block layer reports as
// reading zero, so sparse images cross the wire cheaply. Zero runs come
// from the export's StatusCache, so mostly-data images pay nothing extra.
import type { BlockBackend } from '@tsemu/block-core';
import { STATUS_ZERO, type StatusCache } from './status-cache.js';
import { NBD_REPLY_FLAG_DONE, NbdChunk, writeStructuredHeader } from '@tsemu/block-nbd';

/** Reads shorter than this are not worth a block-status lookup. */
export const SPARSE_READ_MIN = 64 << 10;

/** At most this many chunks per reply; the rest of the range goes out as data. */
const MAX_CHUNKS = 64;

interface Extent {
  start: number;
  length: number;
  zero: boolean;
}

/**
 * Whether the cache already knows [offset, offset+length) is one run
 * without zeroes: then the read goes out as one data chunk, with no
 * block-status lookup and no allocation (the common case on every image).
 */
export function knownData(cache: StatusCache, offset: number, length: number): boolean {
  const i = cache.find(offset);
  return i >= 0 && (cache.flagsOf(i) & STATUS_ZERO) === 0 && cache.end(i) >= offset + length;
}

/**
 * The zero/non-zero extents of [offset, offset+length), or null when the
 * whole range is data (the caller then sends one plain data chunk).
 * `scratch` is the caller's two-number answer buffer.
 */
export async function sparseExtents(cache: StatusCache, offset: number, length: number, scratch: Float64Array): Promise<Extent[] | null> {
  const out: Extent[] = [];
  let pos = offset;
  const end = offset + length;
  while (pos < end) {
    await cache.lookup(pos, end, scratch);
    const n = Math.min(scratch[0]!, end) - pos;
    if (n <= 0) break;
    const zero = (scratch[1]! & STATUS_ZERO) !== 0;
    const last = out[out.length - 1];
    if (last && last.zero === zero) last.length += n;
    else if (out.length === MAX_CHUNKS - 1) {
      out.push({ start: pos, length: end - pos, zero: false });
      pos = end;
      break;
    } else out.push({ start: pos, length: n, zero });
    pos += n;
  }
  if (pos < end) out.push({ start: pos, length: end - pos, zero: false });
  if (!out.some((e) => e.zero)) return null;
  return out;
}

/**
 * Builds the chunks for `extents`: data extents are read into `buf` (the
 * request's buffer, `offset`-relative). Returns the byte arrays to write in
 * order; the last chunk carries the DONE flag.
 */
export async function buildSparseReply(
  blk: BlockBackend, extents: Extent[], offset: number, buf: Uint8Array, handleHi: number, handleLo: number,
): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < extents.length; i++) {
    const e = extents[i]!;
    const flags = i === extents.length - 1 ? NBD_REPLY_FLAG_DONE : 0;
    if (e.zero) {
      const h = new Uint8Array(32);
      const v = new DataView(h.buffer);
      writeStructuredHeader(v, 0, flags, NbdChunk.OFFSET_HOLE, handleHi, handleLo, 12);
      v.setUint32(20, Math.floor(e.start / 0x100000000));
      v.setUint32(24, e.start >>> 0);
      v.setUint32(28, e.length);
      parts.push(h);
    } else {
      const data = buf.subarray(e.start - offset, e.start - offset + e.length);
      await blk.read(e.start, data);
      const h = new Uint8Array(28);
      const v = new DataView(h.buffer);
      writeStructuredHeader(v, 0, flags, NbdChunk.OFFSET_DATA, handleHi, handleLo, 8 + e.length);
      v.setUint32(20, Math.floor(e.start / 0x100000000));
      v.setUint32(24, e.start >>> 0);
      parts.push(h, data);
    }
  }
  return parts;
}
