// Zero-run detection for convert -S: which parts of a buffer must be written
// and which may stay holes in the target.

const SECTOR = 512;
const WORDS_PER_SECTOR = SECTOR / 4;
/** Holes start and end at least on 4 KiB boundaries so the target never needs a read-modify-write. */
const MIN_HOLE_ALIGN = 4096;

/** qemu-img aligns holes to the largest power of two not above -S (and at least 4 KiB). */
export function holeAlignment(minSparse: number): number {
  let align = MIN_HOLE_ALIGN;
  while (align * 2 <= minSparse) align *= 2;
  return align;
}

/** True when the 512-byte sector `index` of `words` is all zero (words covers whole sectors). */
function sectorIsZero(words: Int32Array, index: number): boolean {
  let w = index * WORDS_PER_SECTOR;
  const end = w + WORDS_PER_SECTOR;
  for (; w < end; w += 8) {
    if ((words[w]! | words[w + 1]! | words[w + 2]! | words[w + 3]! | words[w + 4]! | words[w + 5]! | words[w + 6]! | words[w + 7]!) !== 0) {
      return false;
    }
  }
  return true;
}

function tailIsZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

function isZeroAt(bytes: Uint8Array, words: Int32Array, fullSectors: number, length: number, s: number): boolean {
  return s < fullSectors ? sectorIsZero(words, s) : tailIsZero(bytes, s * SECTOR, length);
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
 * `minSparse` bytes.
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
  const fullSectors = Math.floor(length / SECTOR);
  const sectors = Math.ceil(length / SECTOR);
  const align = holeAlignment(minSparse);

  let dataStart = 0;
  let s = 0;
  while (s < sectors) {
    if (!isZeroAt(bytes, words, fullSectors, length, s)) {
      s++;
      continue;
    }
    let e = s + 1;
    while (e < sectors && isZeroAt(bytes, words, fullSectors, length, e)) e++;
    const runStart = s * SECTOR;
    const runEnd = Math.min(e * SECTOR, length);
    const holeStart = runStart === 0 ? 0 : alignUp(offset + runStart, align) - offset;
    const holeEnd = runEnd === length ? length : alignDown(offset + runEnd, align) - offset;
    if (holeEnd - holeStart >= minSparse && holeEnd > holeStart) {
      if (holeStart > dataStart) await sink.data(dataStart, holeStart);
      await sink.hole(holeStart, holeEnd);
      dataStart = holeEnd;
    }
    s = e;
  }
  if (length > dataStart) await sink.data(dataStart, length);
}

function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

function alignDown(n: number, align: number): number {
  return Math.floor(n / align) * align;
}
