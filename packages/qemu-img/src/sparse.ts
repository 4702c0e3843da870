// Zero-run detection for convert -S (and the zero-cluster test of -c): which
// parts of a buffer must be written and which may stay holes in the target.
import { findZeroRuns } from '@tsemu/block-core';

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

/**
 * The data and hole ranges of one buffer (relative to its start), in order:
 * filled by splitSparse before the chunk's turn to write comes, so zero
 * detection overlaps the previous chunk's write. Typed arrays sized once.
 */
export class SparseRanges {
  start: Int32Array;
  end: Int32Array;
  hole: Uint8Array;
  count = 0;
  /** Scratch: the runs of zero blocks (start/end pairs) from the native scanner. */
  readonly zeroRuns: Int32Array;

  constructor(maxLength: number) {
    // Ranges alternate and each hole spans whole 4 KiB blocks: at most two ranges per block, plus the partial ends.
    const cap = 2 * Math.ceil(maxLength / MIN_HOLE_ALIGN) + 2;
    this.start = new Int32Array(cap);
    this.end = new Int32Array(cap);
    this.hole = new Uint8Array(cap);
    this.zeroRuns = new Int32Array(cap + 2);
  }

  private push(start: number, end: number, hole: number): void {
    const i = this.count++;
    this.start[i] = start;
    this.end[i] = end;
    this.hole[i] = hole;
  }

  data(start: number, end: number): void {
    this.push(start, end, 0);
  }

  holeRange(start: number, end: number): void {
    this.push(start, end, 1);
  }
}

/**
 * Splits bytes[0, length) — destined for image offset `offset` — into data and
 * holes (into `out`, replacing what it held): a zero run becomes a hole when,
 * trimmed to holeAlignment(minSparse) boundaries (the buffer's own ends count
 * as boundaries), it still spans `minSparse` bytes. Since only whole aligned
 * blocks can be part of a hole, the buffer is tested block by block (the
 * buffer's ends cut partial blocks). `words` is an Int32Array over the same
 * memory from bytes' start. The blocks are scanned natively (host-io) when
 * the addon is built, else here; `native` = false forces the JS loop (tests).
 */
export function splitSparse(
  bytes: Uint8Array,
  words: Int32Array,
  length: number,
  offset: number,
  minSparse: number,
  out: SparseRanges,
  native = true,
): void {
  if (out.start.length < 2 * Math.ceil(length / MIN_HOLE_ALIGN) + 2) throw new RangeError('SparseRanges too small');
  out.count = 0;
  const align = holeAlignment(minSparse);
  const runs = native ? findZeroRuns(bytes, length, offset % align, align, out.zeroRuns) : -1;
  if (runs >= 0) return rangesFromRuns(out, runs, length, minSparse);
  let dataStart = 0;
  let runStart = -1;
  let pos = 0;
  while (pos < length) {
    const end = Math.min(length, (Math.floor((offset + pos) / align) + 1) * align - offset);
    if (isZeroRange(bytes, words, pos, end)) {
      if (runStart < 0) runStart = pos;
    } else if (runStart >= 0) {
      if (pos - runStart >= minSparse) {
        if (runStart > dataStart) out.data(dataStart, runStart);
        out.holeRange(runStart, pos);
        dataStart = pos;
      }
      runStart = -1;
    }
    pos = end;
  }
  if (runStart >= 0 && length - runStart >= minSparse) {
    if (runStart > dataStart) out.data(dataStart, runStart);
    out.holeRange(runStart, length);
    dataStart = length;
  }
  if (length > dataStart) out.data(dataStart, length);
}

/** The same rule as the block loop above, applied to the zero-block runs the native scanner found. */
function rangesFromRuns(out: SparseRanges, runs: number, length: number, minSparse: number): void {
  const z = out.zeroRuns;
  let dataStart = 0;
  for (let i = 0; i < runs; i++) {
    const start = z[2 * i]!;
    const end = z[2 * i + 1]!;
    if (end - start < minSparse) continue;
    if (start > dataStart) out.data(dataStart, start);
    out.holeRange(start, end);
    dataStart = end;
  }
  if (length > dataStart) out.data(dataStart, length);
}
