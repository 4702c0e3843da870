// The on-disk side of persistent dirty bitmaps (qcow2 spec: "Bitmaps
// extension", "Bitmap directory", "Bitmap table"): the extension's three
// fields, directory entries and table entries, validated with QEMU 7.2's
// messages. Every size is checked against QEMU's caps before anything is
// allocated from it.
import { BlockError } from '@tsemu/block-core';

/** QEMU's caps (bitmaps per image, name length, table entries, bytes of one bitmap in memory). */
export const MAX_BITMAPS = 65535;
export const MAX_NAME = 1023;
export const MAX_TABLE_ENTRIES = 0x8000000;
export const MAX_BITMAP_BYTES = 0x20000000;
/** One entry of at most 1024 bytes per bitmap (QEMU's directory cap). */
export const MAX_DIRECTORY = 1024 * MAX_BITMAPS;
export const MIN_GRANULARITY_BITS = 9;
export const MAX_GRANULARITY_BITS = 31;

export const FLAG_IN_USE = 1;
export const FLAG_AUTO = 2;
const FLAG_EXTRA_COMPATIBLE = 4;
const FLAGS_KNOWN = FLAG_IN_USE | FLAG_AUTO | FLAG_EXTRA_COMPATIBLE;
const TYPE_DIRTY_TRACKING = 1;
const ENTRY_HEADER = 24;

export interface BitmapsExtension {
  nbBitmaps: number;
  directorySize: number;
  directoryOffset: number;
}

export interface BitmapEntry {
  tableOffset: number;
  tableSize: number;
  flags: number;
  granularityBits: number;
  name: string;
}

/** The extension's data (24 bytes), as QEMU's header read checks it. */
export function parseBitmapsExtension(data: Uint8Array, cs: number): BitmapsExtension {
  if (data.length !== 24) throw invalid('bitmaps_ext: Invalid extension length');
  const dv = new DataView(data.buffer, data.byteOffset, 24);
  if (dv.getUint32(4) !== 0) throw invalid('bitmaps_ext: Reserved field is not zero');
  const nbBitmaps = dv.getUint32(0);
  if (nbBitmaps > MAX_BITMAPS) {
    throw invalid(`bitmaps_ext: Image has ${nbBitmaps} bitmaps, exceeding the QEMU supported maximum of ${MAX_BITMAPS}`);
  }
  if (nbBitmaps === 0) throw invalid('found bitmaps extension with zero bitmaps');
  const size = dv.getBigUint64(8);
  if (size > BigInt(MAX_DIRECTORY)) {
    throw invalid(`bitmaps_ext: bitmap directory size (${size}) exceeds the maximum supported size (${MAX_DIRECTORY})`);
  }
  const offset = dv.getBigUint64(16);
  if (offset % BigInt(cs) !== 0n || offset > BigInt(2 ** 56)) throw invalid('bitmaps_ext: invalid bitmap directory offset');
  return { nbBitmaps, directorySize: Number(size), directoryOffset: Number(offset) };
}

export function encodeBitmapsExtension(ext: BitmapsExtension): Uint8Array {
  const b = new Uint8Array(24);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, ext.nbBitmaps);
  dv.setBigUint64(8, BigInt(ext.directorySize));
  dv.setBigUint64(16, BigInt(ext.directoryOffset));
  return b;
}

/** Bytes of a bitmap over `size` bytes of disk at 2^bits granularity. */
export function bitmapBytes(size: number, bits: number): number {
  return Math.ceil(Math.ceil(size / 2 ** bits) / 8);
}

/** Table entries a bitmap needs. */
export function tableEntries(size: number, bits: number, cs: number): number {
  return Math.ceil(bitmapBytes(size, bits) / cs);
}

/**
 * Directory entries, in order, with QEMU's checks: entries must fill the
 * directory exactly, count as the extension says, satisfy the spec's
 * constraints and have unique names.
 */
export function parseDirectory(dir: Uint8Array, ext: BitmapsExtension, diskSize: number, cs: number): BitmapEntry[] {
  const dv = new DataView(dir.buffer, dir.byteOffset, dir.byteLength);
  const out: BitmapEntry[] = [];
  const names = new Set<string>();
  let off = 0;
  while (off < dir.length) {
    if (off + ENTRY_HEADER > dir.length) throw invalid('Broken bitmap directory');
    const nameSize = dv.getUint16(off + 18);
    const extra = dv.getUint32(off + 20);
    const len = align8(ENTRY_HEADER + nameSize + extra);
    if (len > dir.length - off) throw invalid('Broken bitmap directory');
    if (out.length >= ext.nbBitmaps) throw invalid('More bitmaps found than specified in header extension');
    const nameStart = off + ENTRY_HEADER + extra;
    const e: BitmapEntry = {
      tableOffset: Number(dv.getBigUint64(off) & 0xffffffffffffffn),
      tableSize: dv.getUint32(off + 8),
      flags: dv.getUint32(off + 12),
      granularityBits: dir[off + 17]!,
      name: new TextDecoder().decode(dir.subarray(nameStart, nameStart + nameSize)),
    };
    if (dv.getBigUint64(off) >> 56n !== 0n) e.tableOffset = -1;
    if (extra !== 0) throw invalid('Bitmap extra data is not supported');
    if (!entryValid(e, dir[off + 16]!, nameSize, diskSize, cs)) throw invalid(`Bitmap '${e.name}' doesn't satisfy the constraints`);
    if (names.has(e.name)) throw invalid(`Bitmap already exists: ${e.name}`);
    names.add(e.name);
    out.push(e);
    off += len;
  }
  if (out.length < ext.nbBitmaps) throw invalid('Less bitmaps found than specified in header extension');
  return out;
}

/** The spec's and QEMU's constraints on one entry (QEMU names none of them: one message for all). */
function entryValid(e: BitmapEntry, type: number, nameSize: number, diskSize: number, cs: number): boolean {
  if (e.tableOffset <= 0 || e.tableOffset % cs !== 0) return false;
  if (e.tableSize === 0 || e.tableSize > MAX_TABLE_ENTRIES) return false;
  if ((e.flags & ~FLAGS_KNOWN) !== 0 || type !== TYPE_DIRTY_TRACKING) return false;
  if (e.granularityBits < MIN_GRANULARITY_BITS || e.granularityBits > MAX_GRANULARITY_BITS) return false;
  if (nameSize === 0 || nameSize > MAX_NAME) return false;
  const bytes = bitmapBytes(diskSize, e.granularityBits);
  return bytes <= MAX_BITMAP_BYTES && bytes <= e.tableSize * cs;
}

export function encodeDirectory(entries: readonly BitmapEntry[]): Uint8Array {
  const enc = new TextEncoder();
  const names = entries.map((e) => enc.encode(e.name));
  const size = names.reduce((n, name) => n + align8(ENTRY_HEADER + name.length), 0);
  const buf = new Uint8Array(size);
  const dv = new DataView(buf.buffer);
  let off = 0;
  entries.forEach((e, i) => {
    dv.setBigUint64(off, BigInt(e.tableOffset));
    dv.setUint32(off + 8, e.tableSize);
    dv.setUint32(off + 12, e.flags);
    buf[off + 16] = TYPE_DIRTY_TRACKING;
    buf[off + 17] = e.granularityBits;
    dv.setUint16(off + 18, names[i]!.length);
    buf.set(names[i]!, off + ENTRY_HEADER);
    off += align8(ENTRY_HEADER + names[i]!.length);
  });
  return buf;
}

/** Directory bytes for these names (measure's "bitmaps size"). */
export function directorySize(names: readonly string[]): number {
  const enc = new TextEncoder();
  return names.reduce((n, name) => n + align8(ENTRY_HEADER + enc.encode(name).length), 0);
}

/**
 * A bitmap table: host offsets of the data clusters (0: reads as zeroes,
 * -1: an unallocated cluster that reads as all ones). Reserved bits, an
 * unaligned offset or the "ones" bit next to an offset fail with QEMU's message.
 */
export function parseTable(raw: Uint8Array, name: string, cs: number): Float64Array {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const n = raw.length / 8;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const hi = dv.getUint32(i * 8);
    const lo = dv.getUint32(i * 8 + 4);
    const off = (hi & 0x00ffffff) * 4294967296 + ((lo & 0xfffffe00) >>> 0);
    if ((hi & 0xff000000) !== 0 || (lo & 0x1fe) !== 0 || off % cs !== 0 || ((lo & 1) !== 0 && off !== 0)) {
      throw invalid(`Could not read bitmap_table table from image for bitmap '${name}': Invalid argument`);
    }
    out[i] = off === 0 && (lo & 1) !== 0 ? -1 : off;
  }
  return out;
}

export function align8(n: number): number {
  return (n + 7) & ~7;
}

function invalid(message: string): BlockError {
  return new BlockError('EINVAL', message);
}
