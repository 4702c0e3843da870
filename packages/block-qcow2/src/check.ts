// Qcow2Checker: qemu-img check for qcow2, written from the qcow2 spec and
// checked line by line against qemu-img 7.2's stderr. Steps, in QEMU's order:
//   1. count every reference the metadata makes (header, active L1/L2,
//      snapshot L1/L2, snapshot table, refcount table and blocks, a LUKS
//      image's crypto header) into an
//      in-memory array, reporting malformed entries on the way;
//   2. compare with the stored refcounts ("Leaked cluster", "ERROR cluster");
//   3. repair: with -r leaks|all the comparison runs again and patches
//      counts ("Repairing cluster"); a referenced cluster whose refcount is 0
//      or a broken refcount block needs a new refcount structure
//      (check-rebuild.ts, -r all only; -r leaks gives up with EIO);
//   4. check OFLAG_COPIED on active L1/L2 entries against the refcounts.
// Lines go to `onMessage` as they are made (and into `messages`).
import { BlockError, strerror, type Errno } from '@tsemu/block-core';
import { parseTable } from './bitmap-format.js';
import { RebuildError, RefcountRebuilder } from './check-rebuild.js';
import { hex64, hexAlt, InMemoryRefcounts } from './check-refs.js';
import { decodeCompressed, type CompressedLocation } from './compressed.js';
import {
  INCOMPAT_CORRUPT, INCOMPAT_DIRTY, L1_RESERVED_HI, L2_RESERVED_HI, L2_RESERVED_LO,
  OFFSET_MASK_HI, OFFSET_MASK_LO, OFLAG_COMPRESSED_HI, OFLAG_COPIED_HI, OFLAG_ZERO_LO,
} from './constants.js';
import type { Qcow2Image } from './image.js';
import { cryptoExtension } from './luks-info.js';
import { getRefcount, maxRefcount, refcountText } from './refcount-codec.js';
import { readSnapshotTable, type SnapshotTableResult } from './snapshot-table.js';
import { Qcow2Snapshots } from './snapshots.js';

/** QEMU's cap on the number of snapshots. */
const MAX_SNAPSHOTS = 65536;

export interface Qcow2CheckResult {
  corruptions: number;
  leaks: number;
  checkErrors: number;
  corruptionsFixed: number;
  leaksFixed: number;
  totalClusters: number;
  allocatedClusters: number;
  fragmentedClusters: number;
  compressedClusters: number;
  imageEndOffset: number;
  /** QEMU's stderr lines, in order ("Leaked cluster 6 refcount=2 reference=1", ...). */
  messages: string[];
}

export type Qcow2Repair = 'none' | 'leaks' | 'all';

const FIX_LEAKS = 1;
const FIX_ERRORS = 2;
/** Count allocated / fragmented / compressed clusters (active L1 only). */
const FRAG_INFO = 1;
const MAX_L1_ENTRIES = (32 * 1024 * 1024) / 8;
/** L1 entries: bits 0..8 are reserved (constants.ts's L1_RESERVED_LO leaves out bit 0). */
const L1_RESERVED_LO_ALL = 0x1ff;

type Counters = Omit<Qcow2CheckResult, 'messages'>;

function emptyCounters(): Counters {
  return {
    corruptions: 0, leaks: 0, checkErrors: 0, corruptionsFixed: 0, leaksFixed: 0, totalClusters: 0,
    allocatedClusters: 0, fragmentedClusters: 0, compressedClusters: 0, imageEndOffset: 0,
  };
}

export class Qcow2Checker {
  private readonly cs: number;
  private refs!: InMemoryRefcounts;
  private res: Counters = emptyCounters();
  private messages: string[] = [];
  private onMessage: ((line: string) => void) | undefined;
  private readonly loc: CompressedLocation = { host: 0, bytes: 0 };
  private readonly table: Uint8Array;
  private readonly tableDv: DataView;
  /** The snapshot table as step 0 read it (check mode: oversized extra data cut under -r all). */
  private snaps: SnapshotTableResult = { snapshots: [], bytes: 0 };

  constructor(private readonly img: Qcow2Image) {
    this.cs = img.clusterSize;
    this.table = new Uint8Array(this.cs);
    this.tableDv = new DataView(this.table.buffer);
  }

  /**
   * Caller holds the metadata lock (or has the image to itself). Throws
   * (EIO) where qemu-img says "Check failed", after reporting the lines.
   */
  async run(repair: Qcow2Repair, onMessage?: (line: string) => void): Promise<Qcow2CheckResult> {
    if (this.img.map.extendedL2) throw new BlockError('ENOTSUP', 'qcow2: checking images with extended L2 entries is not supported yet');
    this.onMessage = onMessage;
    this.messages = [];
    this.res = emptyCounters();
    const fix = repair === 'all' ? FIX_LEAKS | FIX_ERRORS : repair === 'leaks' ? FIX_LEAKS : 0;
    // Tables are read from the file, and repairs must reach it step by step.
    await this.img.writeThrough(async () => {
      const snapshotErrors = await this.readSnapshots(fix);
      await this.checkRefcounts(fix);
      await this.fixSnapshots(fix, snapshotErrors);
      if (fix !== 0 && this.res.checkErrors === 0 && this.res.corruptions === 0) await this.markConsistent();
    });
    return { ...this.res, messages: this.messages };
  }

  private emit(line: string): void {
    this.messages.push(line);
    this.onMessage?.(line);
  }

  /**
   * Step 0, QEMU's snapshot-table read in check mode: an unreadable table
   * fails the check; v3 entries with less than 16 bytes of extra data (no
   * disk size) are incomplete. Returns how many entries need rewriting.
   */
  private async readSnapshots(fix: number): Promise<number> {
    const h = this.img.header;
    const repair = (fix & FIX_ERRORS) !== 0 ? { onDiscard: (line: string) => this.emit(line), dropped: 0 } : undefined;
    // The table pointer as the check-mode open left it unchecked (QEMU's qcow2_check_read_snapshot_table).
    const overhang = Math.max(0, h.nbSnapshots - MAX_SNAPSHOTS);
    let count = h.nbSnapshots;
    if (overhang > 0 && (fix & FIX_ERRORS) !== 0) {
      this.emit(`Discarding ${overhang} overhanging snapshots`);
      count = MAX_SNAPSHOTS;
    }
    const invalid = count > MAX_SNAPSHOTS ? ['EFBIG', 'too large'] as const
      : h.snapshotsOffset % this.cs !== 0 || h.snapshotsOffset + count * 40 > 2 ** 63 - 1 ? ['EINVAL', 'offset invalid'] as const : undefined;
    if (invalid !== undefined) {
      this.res.checkErrors++;
      this.emit(`qemu-img: ERROR snapshot table ${invalid[1]}`);
      if (overhang > 0) this.emit(`You can force-remove all ${overhang} overhanging snapshots with qemu-img check -r all`);
      throw new BlockError(invalid[0]);
    }
    try {
      this.snaps = await readSnapshotTable(this.img.file, h.snapshotsOffset, count, repair);
    } catch (err) {
      if (!(err instanceof BlockError)) throw err;
      this.res.checkErrors++;
      this.emit(`qemu-img: ERROR failed to read the snapshot table: ${err.message}`);
      throw new BlockError(err.code);
    }
    let bad = repair?.dropped ?? 0;
    if (count !== h.nbSnapshots) {
      // The header says 65536 at once (the overhanging entries' clusters leak; the refcount check frees them).
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, count);
      await this.img.file.write(60, b);
      await this.img.file.flush();
      h.nbSnapshots = count;
      this.res.corruptionsFixed += overhang;
    }
    if (h.version >= 3) {
      const list = this.snaps.snapshots;
      for (let i = 0; i < list.length; i++) {
        if (list[i]!.extra.length >= 16) continue;
        bad++;
        this.emit(`${(fix & FIX_ERRORS) !== 0 ? 'Repairing' : 'ERROR'} snapshot table entry ${i} is incomplete`);
      }
    }
    return bad;
  }

  /** Last step for the snapshot table: -r all writes it anew (complete entries), as QEMU's qcow2_write_snapshots. */
  private async fixSnapshots(fix: number, bad: number): Promise<void> {
    if (bad === 0) return;
    if ((fix & FIX_ERRORS) === 0) {
      this.res.corruptions += bad;
      return;
    }
    const size = this.img.header.size;
    for (const s of this.snaps.snapshots) if (s.extra.length < 16) s.diskSize = size; // QEMU's default for a missing disk size
    let freed: boolean;
    try {
      freed = await new Qcow2Snapshots(this.img).rewriteTable(this.snaps.snapshots, this.snaps.bytes);
    } catch (err) {
      if (!(err instanceof BlockError)) throw err;
      this.res.checkErrors++;
      this.emit(`ERROR failed to update snapshot table: ${strerror(err.code as Errno)}`);
      throw new BlockError(err.code);
    }
    if (!freed) this.emit(`qcow2_free_clusters failed: ${strerror('EINVAL')}`);
    this.res.corruptionsFixed += bad;
  }

  private async checkRefcounts(fix: number): Promise<void> {
    const img = this.img;
    const cs = this.cs;
    const res = this.res;
    this.refs = new InMemoryRefcounts(Math.ceil(img.file.size / cs), maxRefcount(img.header.refcountOrder));
    res.totalClusters = Math.ceil(img.header.size / cs);
    let rebuild = await this.calculate(fix);
    // With a plain repair the comparison runs again from here, fixing as it goes.
    const before = { ...res };
    let cmp = await this.compare(0);
    rebuild ||= cmp.rebuild;
    if (rebuild && (fix & FIX_ERRORS) !== 0) {
      const old = { ...res };
      this.emit('Rebuilding refcount structure');
      try {
        await new RefcountRebuilder(img, this.refs, (line) => this.emit(line)).run();
      } catch (err) {
        if (!(err instanceof RebuildError)) throw err;
        this.emit(`qemu-img: ${err.step}: ${strerror('EIO')}`);
        res.checkErrors++;
        throw new BlockError('EIO');
      }
      res.corruptions = 0;
      res.leaks = 0;
      // The old table was swapped for the new one: count everything again.
      this.refs.clear();
      await this.calculate(0);
      // The old structure is leaked now; free it. Leaks left here are the rebuild's own.
      const saved = { ...res };
      this.res = emptyCounters();
      cmp = await this.compare(FIX_LEAKS);
      if (cmp.rebuild) this.emit('ERROR rebuilt refcount structure is still broken');
      const freshLeaks = this.res.leaks;
      this.res = saved;
      if (saved.corruptions < old.corruptions) saved.corruptionsFixed += old.corruptions - saved.corruptions;
      if (saved.leaks < old.leaks) saved.leaksFixed += old.leaks - saved.leaks;
      saved.leaks += freshLeaks;
    } else if (fix !== 0) {
      if (rebuild) {
        this.emit('ERROR need to rebuild refcount structures');
        res.checkErrors++;
        throw new BlockError('EIO');
      }
      if (res.leaks !== 0 || res.corruptions !== 0) {
        Object.assign(res, before);
        cmp = await this.compare(fix);
      }
    }
    await this.checkOflagCopied(fix);
    this.res.imageEndOffset = (cmp.highest + 1) * cs;
  }

  /** Step 1. True if the refcount structure itself is broken (needs a rebuild). */
  private async calculate(fix: number): Promise<boolean> {
    const img = this.img;
    const h = img.header;
    this.inc(0, this.cs);
    await this.checkL1(h.l1TableOffset, h.l1Size, FRAG_INFO, fix);
    if (h.nbSnapshots > 0) {
      const snaps = this.snaps;
      for (const s of snaps.snapshots) {
        if (s.l1Offset % this.cs !== 0) {
          this.corruption(`ERROR snapshot ${s.id} (${s.name}) l1_offset=${hexAlt(s.l1Offset)}: L1 table is not cluster aligned; snapshot table entry corrupted`);
        } else if (s.l1Size > MAX_L1_ENTRIES) {
          this.corruption(`ERROR snapshot ${s.id} (${s.name}) l1_size=${hexAlt(s.l1Size)}: L1 table is too large; snapshot table entry corrupted`);
        } else {
          await this.checkL1(s.l1Offset, s.l1Size, 0, fix);
        }
      }
      this.inc(h.snapshotsOffset, snaps.bytes);
    }
    const rt = img.refcounts;
    this.inc(rt.offset, rt.clusters * this.cs);
    // A LUKS image's crypto header and key material (the crypto header extension's range).
    if (h.cryptMethod === 2) {
      const crypto = cryptoExtension(h);
      if (crypto.length > 0) this.inc(crypto.offset, crypto.length);
    }
    await this.countBitmaps();
    return this.checkRefblocks(fix);
  }

  /**
   * The bitmap directory, every bitmap's table and its data clusters (in-use
   * bitmaps too). Tables are read a cluster at a time: an in-use bitmap's
   * size was never checked against the disk. A malformed entry fails the
   * check with EINVAL, as QEMU's.
   */
  private async countBitmaps(): Promise<void> {
    const bm = this.img.bitmaps;
    if (bm.ext === undefined) return;
    const cs = this.cs;
    this.inc(bm.ext.directoryOffset, bm.ext.directorySize);
    const buf = this.table;
    for (const b of bm.list) {
      const e = b.entry;
      if (e === undefined) continue;
      this.inc(e.tableOffset, e.tableSize * 8);
      const bytes = e.tableSize * 8;
      for (let done = 0; done < bytes; done += cs) {
        const n = Math.min(cs, bytes - done);
        await this.img.file.read(e.tableOffset + done, buf.subarray(0, n));
        let offsets: Float64Array;
        try {
          offsets = parseTable(buf.subarray(0, n), e.name, cs);
        } catch {
          throw new BlockError('EINVAL');
        }
        for (const off of offsets) if (off > 0) this.inc(off, cs);
      }
    }
  }

  private corruption(line: string): void {
    this.res.corruptions++;
    this.emit(line);
  }

  /** One more reference to every cluster of [offset, offset+size). */
  private inc(offset: number, size: number): void {
    if (size <= 0) return;
    const cs = this.cs;
    // The last cluster may be partly past EOF; a whole cluster past it is corruption.
    if (offset + size - this.img.file.size >= cs) {
      this.corruption(`ERROR: counting reference for region exceeding the end of the file by one cluster or more: offset ${hexAlt(offset)} size ${hexAlt(size)}`);
      return;
    }
    const refs = this.refs;
    const last = Math.floor((offset + size - 1) / cs);
    refs.grow(last + 1);
    for (let k = Math.floor(offset / cs); k <= last; k++) {
      const v = refs.counts[k]!;
      if (v >= refs.max) {
        this.corruption(`ERROR: overflow cluster offset=${hexAlt(k * cs)}`);
        this.emit('Use qemu-img amend to increase the refcount entry width or qemu-img convert to create a clean copy if the image cannot be opened for writing');
        continue;
      }
      refs.counts[k] = v + 1;
    }
  }

  private async checkL1(l1Offset: number, l1Size: number, flags: number, fix: number): Promise<void> {
    if (l1Size === 0) return;
    this.inc(l1Offset, l1Size * 8);
    const l1 = new Uint8Array(l1Size * 8);
    await this.img.file.read(l1Offset, l1);
    const dv = new DataView(l1.buffer);
    for (let i = 0; i < l1Size; i++) {
      const hi = dv.getUint32(i * 8);
      const lo = dv.getUint32(i * 8 + 4);
      if (hi === 0 && lo === 0) continue;
      if ((hi & L1_RESERVED_HI) !== 0 || (lo & L1_RESERVED_LO_ALL) !== 0) {
        this.corruption(`ERROR found L1 entry with reserved bits set: ${hex64(hi, lo)}`);
      }
      const l2 = (hi & OFFSET_MASK_HI) * 4294967296 + ((lo & OFFSET_MASK_LO) >>> 0);
      this.inc(l2, this.cs);
      if (l2 % this.cs !== 0) this.corruption(`ERROR l2_offset=${l2.toString(16)}: Table is not cluster aligned; L1 entry corrupted`);
      await this.checkL2(l2, flags, fix);
    }
  }

  private async checkL2(l2Offset: number, flags: number, fix: number): Promise<void> {
    const img = this.img;
    const cs = this.cs;
    const res = this.res;
    const dv = this.tableDv;
    await img.file.read(l2Offset, this.table);
    let nextContiguous = 0;
    for (let j = 0; j < cs / 8; j++) {
      const hi = dv.getUint32(j * 8);
      const lo = dv.getUint32(j * 8 + 4);
      if ((hi & OFLAG_COMPRESSED_HI) !== 0) {
        decodeCompressed(hi, lo, img.clusterBits, this.loc);
        if ((hi & OFLAG_COPIED_HI) !== 0) {
          this.corruption(`ERROR: coffset=${hexAlt(this.loc.host)}: copied flag must never be set for compressed clusters`);
        }
        this.inc(this.loc.host, this.loc.bytes);
        if ((flags & FRAG_INFO) !== 0) {
          res.allocatedClusters++;
          res.compressedClusters++;
          // Compressed clusters are fragmented by nature (QEMU counts them so).
          res.fragmentedClusters++;
        }
        continue;
      }
      if ((hi & L2_RESERVED_HI) !== 0 || (lo & L2_RESERVED_LO) !== 0) {
        this.corruption(`ERROR found l2 entry with reserved bits set: ${hex64(hi, lo)}`);
      }
      const host = (hi & OFFSET_MASK_HI) * 4294967296 + ((lo & OFFSET_MASK_LO) >>> 0);
      if (host === 0) continue; // unallocated, or a zero cluster without a host cluster
      const zero = (lo & OFLAG_ZERO_LO) !== 0;
      if (host % cs !== 0) {
        res.corruptions++;
        if (!zero) {
          this.emit(`ERROR offset=${host.toString(16)}: Data cluster is not properly aligned; L2 entry corrupted.`);
        } else {
          const fixing = (fix & FIX_ERRORS) !== 0;
          this.emit(`${fixing ? 'Repairing' : 'ERROR'} offset=${host.toString(16)}: Preallocated cluster is not properly aligned; L2 entry corrupted.`);
          if (fixing) {
            // A plain zero cluster instead; nothing is referenced any more.
            const e = new Uint8Array(8);
            e[7] = OFLAG_ZERO_LO;
            await img.file.write(l2Offset + j * 8, e);
            await img.file.flush();
            img.map.cache.drop(l2Offset);
            res.corruptions--;
            res.corruptionsFixed++;
            continue;
          }
        }
      }
      if ((flags & FRAG_INFO) !== 0) {
        res.allocatedClusters++;
        if (nextContiguous !== 0 && host !== nextContiguous) res.fragmentedClusters++;
        nextContiguous = host + cs;
      }
      this.inc(host, cs);
    }
  }

  /** The refcount table's entries: blocks counted once each, and sane. True if a rebuild is needed. */
  private async checkRefblocks(fix: number): Promise<boolean> {
    const img = this.img;
    const cs = this.cs;
    const rt = img.refcounts;
    const raw = new Uint8Array(rt.clusters * cs);
    await img.file.read(rt.offset, raw);
    const dv = new DataView(raw.buffer);
    let rebuild = false;
    for (let i = 0; i < raw.length / 8; i++) {
      const hi = dv.getUint32(i * 8);
      const lo = dv.getUint32(i * 8 + 4);
      if ((lo & 0x1ff) !== 0) {
        this.corruption(`ERROR refcount table entry ${i} has reserved bits set`);
        rebuild = true;
        continue;
      }
      const off = hi * 4294967296 + lo;
      if (off % cs !== 0) {
        this.corruption(`ERROR refcount block ${i} is not cluster aligned; refcount table entry corrupted`);
        rebuild = true;
        continue;
      }
      const cluster = off / cs;
      if (cluster >= this.refs.size) {
        this.res.corruptions++;
        const fixing = (fix & FIX_ERRORS) !== 0;
        this.emit(`${fixing ? 'Repairing' : 'ERROR'} refcount block ${i} is outside image`);
        if (fixing) {
          try {
            // Growing the file brings the block inside; it reads as zeroes.
            // QEMU: EINVAL past INT64_MAX; beyond what a file can hold, the host's EFBIG.
            if (off > 2 ** 63 - cs) throw new RangeError('offset');
            if (off + cs > Number.MAX_SAFE_INTEGER) throw new BlockError('EFBIG');
            await img.file.truncate(off + cs);
            this.refs.grow(Math.ceil(img.file.size / cs));
            this.res.corruptions--;
            this.res.corruptionsFixed++;
            this.inc(off, cs);
          } catch (err) {
            rebuild = true;
            const text = strerror(err instanceof BlockError ? (err.code as Errno) : 'EIO');
            if (!(err instanceof RangeError)) this.emit(`qemu-img: Could not resize file: ${text}`);
            this.emit(`ERROR could not resize image: ${err instanceof RangeError ? strerror('EINVAL') : text}`);
          }
        }
        continue;
      }
      if (off !== 0) {
        this.inc(off, cs);
        const n = this.refs.get(cluster);
        if (n !== 1) {
          this.corruption(`ERROR refcount block ${i} refcount=${n}`);
          rebuild = true;
        }
      }
    }
    return rebuild;
  }

  /**
   * Step 2 (and the repair of step 3): stored refcounts against the computed
   * ones, a refcount block at a time (read from the file, which write-through
   * keeps current); a block the table names at an unaligned offset goes
   * through the refcount cache, which reports it as QEMU does.
   */
  private async compare(fix: number): Promise<{ rebuild: boolean; highest: number }> {
    const img = this.img;
    const cs = this.cs;
    const rc = img.refcounts;
    const refs = this.refs;
    const order = img.header.refcountOrder;
    const perBlock = (cs * 8) / 2 ** order;
    const table = new Uint8Array(rc.clusters * cs);
    await img.file.read(rc.offset, table);
    const tdv = new DataView(table.buffer);
    const block = new Uint8Array(cs);
    const bdv = new DataView(block.buffer);
    const state = { rebuild: false, highest: 0 };
    for (let bi = 0; bi * perBlock < refs.size; bi++) {
      const first = bi * perBlock;
      const end = Math.min(refs.size, first + perBlock);
      const off = bi < table.length / 8 ? tdv.getUint32(bi * 8) * 4294967296 + ((tdv.getUint32(bi * 8 + 4) & 0xfffffe00) >>> 0) : 0;
      if (off % cs !== 0) {
        for (let c = first; c < end; c++) {
          let stored: number;
          try {
            stored = await rc.get(c);
          } catch (err) {
            this.emit(`Can't get refcount for cluster ${c}: ${err instanceof BlockError ? strerror(err.code as Errno) : String(err)}`);
            this.res.checkErrors++;
            continue;
          }
          await this.compareOne(c, stored, fix, state);
        }
        continue;
      }
      if (off !== 0) await img.file.read(off, block);
      for (let c = first; c < end; c++) {
        const stored = off === 0 ? 0 : getRefcount(block, bdv, order, c - first);
        // The common case, cheaply: nothing stored, nothing referenced.
        if (stored === 0 && refs.counts[c] === 0) continue;
        await this.compareOne(c, stored, fix, state, stored > Number.MAX_SAFE_INTEGER ? refcountText(bdv, order, c - first, stored) : undefined);
      }
    }
    return state;
  }

  /** `exact`: the stored count as text when a 64-bit count is above 2^53 (`stored` is rounded then). */
  private async compareOne(
    i: number, stored: number, fix: number, state: { rebuild: boolean; highest: number }, exact?: string,
  ): Promise<void> {
    const img = this.img;
    const res = this.res;
    const ref = this.refs.counts[i]!;
    if (stored > 0 || ref > 0) state.highest = i;
    if (stored === ref) return;
    let fixing = false;
    if (stored === 0) state.rebuild = true;
    else if (stored > ref && (fix & FIX_LEAKS) !== 0) fixing = true;
    else if (stored < ref && (fix & FIX_ERRORS) !== 0) fixing = true;
    this.emit(`${fixing ? 'Repairing' : stored < ref ? 'ERROR' : 'Leaked'} cluster ${i} refcount=${exact ?? stored} reference=${ref}`);
    if (fixing) {
      try {
        if (exact !== undefined) await img.refcounts.assign(i, ref);
        else await img.refcounts.update(i, 1, ref - stored);
        if (ref === 0) {
          // Freed clusters are handed back to the file, as QEMU's discard-always does.
          img.metadataClusters.delete(i);
          await img.file.discard(i * this.cs, this.cs);
        }
        if (stored > ref) res.leaksFixed++;
        else res.corruptionsFixed++;
        return;
      } catch {
        // Counted below as not repaired.
      }
    }
    if (stored < ref) res.corruptions++;
    else res.leaks++;
  }

  /** Step 4: COPIED must be set exactly where the refcount is 1 (active L1 and its L2 tables). */
  private async checkOflagCopied(fix: number): Promise<void> {
    const img = this.img;
    const map = img.map;
    const rc = img.refcounts;
    const cs = this.cs;
    const res = this.res;
    // With -r leaks only when the refcounts are known to be right now.
    const repair = (fix & FIX_ERRORS) !== 0 ||
      ((fix & FIX_LEAKS) !== 0 && res.checkErrors === 0 && res.corruptions === 0 && res.leaks === 0);
    const word = repair ? 'Repairing' : 'ERROR';
    const dv = this.tableDv;
    for (let i = 0; i < map.l1Size; i++) {
      const l1hi = map.l1[i * 2]!;
      const l1lo = map.l1[i * 2 + 1]!;
      const l2 = map.l2Offset(i);
      if (l2 === 0) continue;
      let refcount: number;
      try {
        refcount = await rc.get(Math.floor(l2 / cs));
      } catch {
        continue;
      }
      if ((refcount === 1) !== ((l1hi & OFLAG_COPIED_HI) !== 0)) {
        res.corruptions++;
        this.emit(`${word} OFLAG_COPIED L2 cluster: l1_index=${i} l1_entry=${hex64(l1hi, l1lo)} refcount=${refcount > Number.MAX_SAFE_INTEGER ? await rc.getText(Math.floor(l2 / cs)) : refcount}`);
        if (repair) {
          const hi = (refcount === 1 ? l1hi | OFLAG_COPIED_HI : l1hi & ~OFLAG_COPIED_HI) >>> 0;
          const e = new Uint8Array(8);
          const edv = new DataView(e.buffer);
          edv.setUint32(0, hi);
          edv.setUint32(4, l1lo);
          await img.file.write(map.l1Offset + i * 8, e);
          map.l1[i * 2] = hi;
          res.corruptions--;
          res.corruptionsFixed++;
        }
      }
      await img.file.read(l2, this.table);
      let dirty = 0;
      for (let j = 0; j < cs / 8; j++) {
        const hi = dv.getUint32(j * 8);
        const lo = dv.getUint32(j * 8 + 4);
        if ((hi & OFLAG_COMPRESSED_HI) !== 0) continue;
        const host = (hi & OFFSET_MASK_HI) * 4294967296 + ((lo & OFFSET_MASK_LO) >>> 0);
        if (host === 0) continue;
        let n: number;
        try {
          n = await rc.get(Math.floor(host / cs));
        } catch {
          continue;
        }
        if ((n === 1) === ((hi & OFLAG_COPIED_HI) !== 0)) continue;
        res.corruptions++;
        this.emit(`${word} OFLAG_COPIED data cluster: l2_entry=${hex64(hi, lo)} refcount=${n > Number.MAX_SAFE_INTEGER ? await rc.getText(Math.floor(host / cs)) : n}`);
        if (repair) {
          dv.setUint32(j * 8, (n === 1 ? hi | OFLAG_COPIED_HI : hi & ~OFLAG_COPIED_HI) >>> 0);
          dirty++;
        }
      }
      if (dirty > 0) {
        await img.file.write(l2, this.table);
        map.cache.drop(l2);
        res.corruptions -= dirty;
        res.corruptionsFixed += dirty;
      }
    }
  }

  /** A repair that left no corruption clears the dirty and corrupt bits (QEMU's mark clean / consistent). */
  private async markConsistent(): Promise<void> {
    const h = this.img.header;
    if ((h.incompatibleFeatures & (INCOMPAT_DIRTY | INCOMPAT_CORRUPT)) === 0n) return;
    await this.img.file.flush();
    h.incompatibleFeatures &= ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT);
    await this.img.writeHeader();
    await this.img.file.flush();
  }
}

/** Repairs a dirty (lazy refcounts) image on a read-write open, then clears the dirty bit. */
export async function repairDirtyImage(img: Qcow2Image): Promise<void> {
  const result = await new Qcow2Checker(img).run('all');
  if (result.corruptions > 0) throw new BlockError('EIO', 'qcow2: could not repair dirty image: corruptions remain');
  await img.file.flush();
  img.header.incompatibleFeatures &= ~INCOMPAT_DIRTY;
  await img.writeHeader();
  await img.file.flush();
}
