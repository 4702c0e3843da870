// Zero-run detection for convert -S (and the zero-cluster test of -c): which
// parts of a buffer must be written and which may stay holes in the target.

/** Holes start and end at least on 4 KiB boundaries so the target never needs a read-modify-write. */
const MIN_HOLE_ALIGN = 4096;
/** Compared against with Buffer#compare (memcmp: several times faster than a JS loop over words). */
const ZEROES = Buffer.alloc(64 * 1024);

/** qemu-img aligns holes to the largest power of two not above -S (and at least 4 KiB). */
export function holeAlignment(minSparse: number): number {
  let align = MIN_HOLE_ALIGN;
  while (align * 2 <= minSparse) align *= 2;
  return align;
}

/**
 * True when bytes[start, end) are all zero. `words` is an Int32Array over the
 * same memory from bytes' start (allocated once per buffer): one word at
 * `start` rejects most data without a native call.
 */
export function isZeroRange(bytes: Uint8Array, words: Int32Array, start: number, end: number): boolean {
  if ((start & 3) === 0 && end - start >= 4 && words[start >> 2] !== 0) return false;
  for (let p = start; p < end; p += ZEROES.length) {
    const n = Math.min(ZEROES.length, end - p);
    if (ZEROES.compare(bytes, p, p + n, 0, n) !== 0) return false;
  }
  return true;
}

/** Receives the data ranges (relative to the buffer) that must be written. */
export interface RangeSink {
  data(start: number, end: number): Promise<void>;
  hole(start: number, end: number): Promise<void>;
}

/**
 * Splits bytes[0, length) — destined for image offset `offset` — into data and
 * holes: a zero run becomes a hole when, trimmed to holeAlignment(minSparse)
 * boundaries (the buffer's own ends count as boundaries), it still spans
 * `minSparse` bytes. Since only whole aligned blocks can be part of a hole,
 * the buffer is tested block by block (the buffer's ends cut partial blocks).
 * `words` is an Int32Array over the same memory (allocated once per buffer).
 */
export async function splitSparse(
  bytes: Uint8Array,
  words: Int32Array,
  length: number,
  offset: number,
  minSparse: number,
  sink: RangeSink,
): Promise<void> {
  const align = holeAlignment(minSparse);
  let dataStart = 0;
  let runStart = -1;
  let pos = 0;
  while (pos < length) {
    const end = Math.min(length, (Math.floor((offset + pos) / align) + 1) * align - offset);
    if (isZeroRange(bytes, words, pos, end)) {
      if (runStart < 0) runStart = pos;
    } else if (runStart >= 0) {
      if (pos - runStart >= minSparse) {
        if (runStart > dataStart) await sink.data(dataStart, runStart);
        await sink.hole(runStart, pos);
        dataStart = pos;
      }
      runStart = -1;
    }
    pos = end;
  }
  if (runStart >= 0 && length - runStart >= minSparse) {
    if (runStart > dataStart) await sink.data(dataStart, runStart);
    await sink.hole(runStart, length);
    dataStart = length;
  }
  if (length > dataStart) await sink.data(dataStart, length);
}
