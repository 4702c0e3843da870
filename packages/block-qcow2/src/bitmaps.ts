// Qcow2Bitmaps: an open image's persistent dirty bitmaps, kept the way QEMU
// 7.2 keeps them (observed with qemu-img / qemu-io on the same images):
//   - open reads and validates the extension, the directory and every
//     consistent bitmap's table (what QEMU refuses fails the open);
//   - a read-write open loads the bitmaps' data, marks every bitmap in_use in
//     the directory (rewritten in place) and keeps the autoclear bit set;
//   - writes, write-zeroes and discards set bits of the enabled ("auto")
//     bitmaps in memory: one typed-array range set per request;
//   - close (not flush) stores every consistent bitmap into new clusters
//     (data clusters, then its table, per bitmap; then the directory), points
//     the header at the new directory, and frees the old clusters;
//   - a bitmap already in_use at open is inconsistent: kept as it is, cannot
//     be used or changed, only removed.
import { BlockError, warnReport as warn } from '@tsemu/block-core';
import {
  FLAG_AUTO, FLAG_IN_USE, MAX_BITMAPS, MAX_GRANULARITY_BITS, MAX_NAME, MIN_GRANULARITY_BITS,
  bitmapBytes, directorySize, encodeBitmapsExtension, encodeDirectory, parseBitmapsExtension, parseDirectory, parseTable, tableEntries,
  type BitmapEntry, type BitmapsExtension,
} from './bitmap-format.js';
import { AUTOCLEAR_BITMAPS } from './constants.js';
import type { Qcow2Image } from './image.js';

export interface Qcow2Bitmap {
  name: string;
  granularityBits: number;
  /** Enabled: the "auto" flag. */
  auto: boolean;
  /** in_use at open: QEMU calls it inconsistent; its entry is kept unchanged. */
  inconsistent: boolean;
  /** Where it lives in the file now (undefined: added in this session). */
  entry: BitmapEntry | undefined;
  /** The table as read (host offsets, -1 = all ones); undefined when not read. */
  table: Float64Array | undefined;
  /** The bits; loaded at a read-write open, on demand otherwise. */
  bits: Uint8Array | undefined;
}

const LEAK_HINT = "\nSome clusters may be leaked, run 'qemu-img check -r' on the image file to fix.";

export class Qcow2Bitmaps {
  list: Qcow2Bitmap[] = [];
  /** The extension as the file has it now (undefined: none). */
  ext: BitmapsExtension | undefined;
  /** The enabled, consistent bitmaps' bit arrays and granularity shifts: what a write marks. */
  private tracked: Uint8Array[] = [];
  private trackedBits: number[] = [];
  /** Something to store at close (a read-write open with bitmaps, or an add). */
  private dirty = false;

  constructor(private readonly img: Qcow2Image) {}

  /** The image can store persistent bitmaps at all (qcow2 v3; QEMU's bdrv_supports_persistent_dirty_bitmap). */
  get storable(): boolean {
    return this.img.header.version >= 3;
  }

  get size(): number {
    return this.img.header.size;
  }

  /** True when a write must mark bits (the write path's single check). */
  get tracking(): boolean {
    return this.tracked.length > 0;
  }

  /** Open: the extension, directory and tables; data and in_use marking on a read-write open. */
  async load(readOnly: boolean, sink?: (text: string) => void): Promise<void> {
    const img = this.img;
    const h = img.header;
    const raw = h.bitmapsData;
    if (raw === undefined) return;
    const v2 = h.version < 3;
    if (v2 || (h.autoclearFeatures & AUTOCLEAR_BITMAPS) === 0n) {
      warn(sink, v2
        ? 'This qcow2 v2 image contains bitmaps, but they may have been modified by a program without persistent bitmap support; so now they must all be considered inconsistent' + LEAK_HINT
        : 'a program lacking bitmap support modified this file, so all bitmaps are now considered inconsistent' + LEAK_HINT);
      // A writer drops the extension (QEMU rewrites the header without it).
      if (!readOnly) {
        h.bitmapsData = undefined;
        await img.writeHeader();
      }
      return;
    }
    const cs = img.clusterSize;
    const ext = parseBitmapsExtension(raw, cs);
    const dir = new Uint8Array(ext.directorySize);
    await img.file.read(ext.directoryOffset, dir);
    const entries = parseDirectory(dir, ext, h.size, cs);
    this.ext = ext;
    for (const e of entries) {
      const bm: Qcow2Bitmap = {
        name: e.name, granularityBits: e.granularityBits, auto: (e.flags & FLAG_AUTO) !== 0,
        inconsistent: (e.flags & FLAG_IN_USE) !== 0, entry: e, table: undefined, bits: undefined,
      };
      if (!bm.inconsistent) {
        if (e.tableSize !== tableEntries(h.size, e.granularityBits, cs)) {
          throw new BlockError('EINVAL', `Could not read bitmap_table table from image for bitmap '${e.name}': Invalid argument`);
        }
        const t = new Uint8Array(e.tableSize * 8);
        await img.file.read(e.tableOffset, t);
        bm.table = parseTable(t, e.name, cs);
      }
      this.list.push(bm);
    }
    if (readOnly) return;
    for (const bm of this.list) if (!bm.inconsistent) await this.loadBits(bm);
    // As QEMU: every bitmap is in_use while the image is open for writing.
    for (const e of entries) e.flags |= FLAG_IN_USE;
    await img.file.write(ext.directoryOffset, encodeDirectory(entries));
    await img.file.flush();
    this.dirty = true;
    this.retrack();
  }

  /** The bits of a consistent bitmap (read from its data clusters the first time). */
  async bitsOf(bm: Qcow2Bitmap): Promise<Uint8Array> {
    if (bm.bits === undefined) await this.loadBits(bm);
    return bm.bits!;
  }

  private async loadBits(bm: Qcow2Bitmap): Promise<void> {
    const cs = this.img.clusterSize;
    const bits = new Uint8Array(bitmapBytes(this.size, bm.granularityBits));
    const table = bm.table;
    if (table !== undefined) {
      for (let i = 0; i < table.length; i++) {
        const chunk = bits.subarray(i * cs, Math.min(bits.length, (i + 1) * cs));
        const off = table[i]!;
        if (off === -1) chunk.fill(0xff);
        else if (off > 0) await this.img.file.read(off, chunk);
      }
      clearTail(bits, this.size, bm.granularityBits);
    }
    bm.bits = bits;
  }

  /** Marks [offset, offset + length) dirty in every enabled bitmap. Hot path: no allocation. */
  markDirty(offset: number, length: number): void {
    const end = Math.min(offset + length, this.size);
    if (end <= offset) return;
    const tracked = this.tracked;
    for (let i = 0; i < tracked.length; i++) {
      const g = 2 ** this.trackedBits[i]!;
      setRange(tracked[i]!, Math.floor(offset / g), Math.floor((end - 1) / g));
    }
  }

  private retrack(): void {
    this.tracked = [];
    this.trackedBits = [];
    for (const bm of this.list) {
      if (bm.auto && !bm.inconsistent && bm.bits !== undefined) {
        this.tracked.push(bm.bits);
        this.trackedBits.push(bm.granularityBits);
      }
    }
  }

  /** After a resize: every loaded bitmap covers the new size (new range clean, bits past the end cleared). */
  resize(size: number): void {
    for (const bm of this.list) {
      if (bm.bits === undefined) continue;
      const n = bitmapBytes(size, bm.granularityBits);
      if (n !== bm.bits.length) {
        const next = new Uint8Array(n);
        next.set(bm.bits.subarray(0, n));
        bm.bits = next;
      }
      clearTail(bm.bits, size, bm.granularityBits);
    }
    if (this.list.length > 0) this.dirty = true;
    this.retrack();
  }

  find(name: string): Qcow2Bitmap | undefined {
    return this.list.find((b) => b.name === name);
  }

  /** The bitmap an operation may use: present and consistent (QEMU's messages). */
  usable(name: string): Qcow2Bitmap {
    const bm = this.find(name);
    if (bm === undefined) throw new BlockError('ENOENT', `Dirty bitmap '${name}' not found`);
    if (bm.inconsistent) {
      throw new BlockError('EINVAL', `Bitmap '${name}' is inconsistent and cannot be used\nTry block-dirty-bitmap-remove to delete this bitmap from disk`);
    }
    return bm;
  }

  // ---- qemu-img bitmap's operations (the image is open read-write) ----

  add(name: string, granularity: number, disabled: boolean): void {
    if (name === '') throw new BlockError('EINVAL', 'Bitmap name cannot be empty');
    if (this.find(name)) throw new BlockError('EEXIST', `Bitmap already exists: ${name}`);
    if (granularity < 512 || (granularity & (granularity - 1)) !== 0 || granularity > 2 ** MAX_GRANULARITY_BITS) {
      throw new BlockError('EINVAL', 'Granularity must be power of 2 and at least 512');
    }
    const where = `Can't make bitmap '${name}' persistent in '${this.nodeName()}': `;
    if (new TextEncoder().encode(name).length > MAX_NAME) throw new BlockError('EINVAL', `${where}Name length exceeds maximum (${MAX_NAME} characters)`);
    if (this.img.header.version < 3) throw new BlockError('ENOTSUP', `${where}Cannot store dirty bitmaps in qcow2 v2 files`);
    if (this.list.length >= MAX_BITMAPS) throw new BlockError('EINVAL', `${where}Maximum number of persistent bitmaps is already reached`);
    const bits = Math.log2(granularity);
    if (bits < MIN_GRANULARITY_BITS) throw new BlockError('EINVAL', 'Granularity must be power of 2 and at least 512');
    this.list.push({
      name, granularityBits: bits, auto: !disabled, inconsistent: false, entry: undefined, table: undefined,
      bits: new Uint8Array(bitmapBytes(this.size, bits)),
    });
    this.dirty = true;
    this.retrack();
  }

  /**
   * Removes a bitmap from the file at once, as QEMU does: a new directory
   * without it (or no extension at all), the header switched, then the old
   * directory and the bitmap's clusters freed.
   */
  async remove(name: string): Promise<void> {
    const bm = this.find(name);
    if (bm === undefined) throw new BlockError('ENOENT', `Dirty bitmap '${name}' not found`);
    this.list.splice(this.list.indexOf(bm), 1);
    this.retrack();
    if (bm.entry === undefined) return;
    if (bm.inconsistent) bm.table = await readTableForFree(this.img, bm.entry);
    await this.img.lockedWriteThrough(async () => {
      const frees: number[] = [];
      await this.writeDirectory(this.list.map((b) => b.entry).filter((e): e is BitmapEntry => e !== undefined), frees);
      pushClusters(frees, bm, this.img.clusterSize);
      await this.freeAll(frees);
    });
  }

  clear(name: string): void {
    this.usable(name).bits!.fill(0);
  }

  enable(name: string): void {
    this.usable(name).auto = true;
    this.retrack();
  }

  disable(name: string): void {
    this.usable(name).auto = false;
    this.retrack();
  }

  /** target |= source, at each one's granularity (a set source bit marks its whole range). */
  merge(target: string, source: Uint8Array, sourceBits: number): void {
    const t = this.usable(target);
    const bits = t.bits!;
    if (sourceBits === t.granularityBits) {
      for (let i = 0; i < bits.length; i++) bits[i]! |= source[i] ?? 0;
      return;
    }
    const gs = 2 ** sourceBits;
    const gt = 2 ** t.granularityBits;
    const n = Math.ceil(this.size / gs);
    for (let i = 0; i < n; i++) {
      if ((source[i >>> 3]! & (1 << (i & 7))) === 0) continue;
      const end = Math.min((i + 1) * gs, this.size);
      setRange(bits, Math.floor((i * gs) / gt), Math.floor((end - 1) / gt));
    }
  }

  /** QEMU names the node in some messages; tsemu has no node names, so a stand-in of QEMU's form. */
  private nodeName(): string {
    return '#block0';
  }

  /**
   * Close of a read-write image: every consistent bitmap into new clusters,
   * a new directory, the header switched to it, then the old clusters freed.
   * Caller has the image to itself (no request in flight).
   */
  async store(): Promise<void> {
    if (!this.dirty) return;
    // The disk may have changed size under us (amend -o size): bits follow it.
    this.resize(this.size);
    this.dirty = false;
    const img = this.img;
    const h = img.header;
    const cs = img.clusterSize;
    await img.lockedWriteThrough(async () => {
      const rc = img.refcounts;
      const frees: number[] = [];
      const entries: BitmapEntry[] = [];
      for (const bm of this.list) {
        if (bm.inconsistent) {
          entries.push(bm.entry!);
          continue;
        }
        const bits = await this.bitsOf(bm);
        const n = tableEntries(this.size, bm.granularityBits, cs);
        const table = new Float64Array(n);
        const chunk = new Uint8Array(cs);
        for (let i = 0; i < n; i++) {
          const piece = bits.subarray(i * cs, Math.min(bits.length, (i + 1) * cs));
          if (isZero(piece)) continue;
          chunk.fill(0);
          chunk.set(piece);
          table[i] = await rc.allocate(1);
          await img.file.write(table[i]!, chunk);
        }
        const rawTable = encodeTable(table);
        const tableOffset = await rc.allocate(Math.ceil(rawTable.length / cs));
        await img.file.write(tableOffset, rawTable);
        pushClusters(frees, bm, cs);
        bm.entry = { tableOffset, tableSize: n, flags: bm.auto ? FLAG_AUTO : 0, granularityBits: bm.granularityBits, name: bm.name };
        bm.table = table;
        entries.push(bm.entry);
      }
      const dirFrees: number[] = [];
      await this.writeDirectory(entries, dirFrees);
      await this.freeAll([...dirFrees, ...frees]);
    });
  }

  /** A new directory for `entries` (none: the extension goes), the header pointed at it; the old one queued in `frees`. */
  private async writeDirectory(entries: BitmapEntry[], frees: number[]): Promise<void> {
    const img = this.img;
    const h = img.header;
    const cs = img.clusterSize;
    const old = this.ext;
    if (entries.length === 0) {
      this.ext = undefined;
      h.bitmapsData = undefined;
      h.autoclearFeatures &= ~AUTOCLEAR_BITMAPS;
    } else {
      const dir = encodeDirectory(entries);
      const dirOffset = await img.refcounts.allocate(Math.ceil(dir.length / cs));
      await img.file.write(dirOffset, dir);
      this.ext = { nbBitmaps: entries.length, directorySize: dir.length, directoryOffset: dirOffset };
      h.bitmapsData = encodeBitmapsExtension(this.ext);
      h.autoclearFeatures |= AUTOCLEAR_BITMAPS;
    }
    await img.file.flush();
    await img.writeHeader();
    await img.file.flush();
    if (old !== undefined) frees.push(old.directoryOffset, old.directorySize);
  }

  /** Drops the queued (offset, bytes) ranges; negative bytes: a data cluster, zeroed as QEMU's discard leaves it. */
  private async freeAll(frees: number[]): Promise<void> {
    const img = this.img;
    const cs = img.clusterSize;
    for (let i = 0; i < frees.length; i += 2) {
      const off = frees[i]!;
      const bytes = Math.abs(frees[i + 1]!);
      if (bytes === 0) continue;
      const freed = await img.refcounts.update(Math.floor(off / cs), Math.ceil(bytes / cs), -1);
      if (freed > 0 && frees[i + 1]! < 0 && !(await img.file.zeroWithoutWriting(off, cs))) await img.file.discard(off, cs);
    }
  }

  /** "bitmaps size" of `qemu-img measure`: what every bitmap takes stored in an image of `cs`-byte clusters. */
  storedSize(cs = this.img.clusterSize): number {
    let total = 0;
    const names: string[] = [];
    for (const bm of this.list) {
      names.push(bm.name);
      const bytes = bitmapBytes(this.size, bm.granularityBits);
      total += Math.ceil(bytes / cs) * cs + Math.ceil((tableEntries(this.size, bm.granularityBits, cs) * 8) / cs) * cs;
    }
    return names.length === 0 ? 0 : total + Math.ceil(directorySize(names) / cs) * cs;
  }
}

/** An inconsistent bitmap's table, read only to free its clusters (cluster by cluster: its size is not trusted). */
async function readTableForFree(img: Qcow2Image, e: BitmapEntry): Promise<Float64Array | undefined> {
  const raw = new Uint8Array(Math.min(e.tableSize * 8, Math.max(0, img.file.size - e.tableOffset)));
  await img.file.read(e.tableOffset, raw);
  try {
    return parseTable(raw.subarray(0, raw.length & ~7), e.name, img.clusterSize);
  } catch {
    return undefined;
  }
}

/** Queues a bitmap's table and data clusters (data with negative length) for freeing. */
function pushClusters(frees: number[], bm: Qcow2Bitmap, cs: number): void {
  if (bm.entry === undefined || bm.table === undefined) return;
  frees.push(bm.entry.tableOffset, bm.entry.tableSize * 8);
  for (const off of bm.table) if (off > 0) frees.push(off, -cs);
}

function encodeTable(table: Float64Array): Uint8Array {
  const raw = new Uint8Array(table.length * 8);
  const dv = new DataView(raw.buffer);
  for (let i = 0; i < table.length; i++) dv.setBigUint64(i * 8, BigInt(table[i]!));
  return raw;
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** Sets bits first..last (inclusive): partial bytes bit by bit, whole bytes with one fill. */
export function setRange(bits: Uint8Array, first: number, last: number): void {
  let i = first;
  while (i <= last && (i & 7) !== 0) {
    bits[i >>> 3]! |= 1 << (i & 7);
    i++;
  }
  const wholeEnd = last + 1 - ((last + 1) % 8);
  if (wholeEnd > i) {
    bits.fill(0xff, i >>> 3, wholeEnd >>> 3);
    i = wholeEnd;
  }
  for (; i <= last; i++) bits[i >>> 3]! |= 1 << (i & 7);
}

/** The spec: bits past the disk's end are zero. */
function clearTail(bits: Uint8Array, size: number, gbits: number): void {
  const n = Math.ceil(size / 2 ** gbits);
  for (let i = n; i < bits.length * 8; i++) bits[i >>> 3]! &= ~(1 << (i & 7));
}
