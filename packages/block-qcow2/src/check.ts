// Qcow2Checker: recomputes every cluster's reference count from the metadata
// (header, L1/L2 of the active image and of every snapshot, refcount table
// and blocks, snapshot table), compares with the stored refcounts and, when
// asked, repairs them. Messages are QEMU's stderr lines. Used to repair a
// dirty lazy-refcounts image on open; the base of `qemu-img check`.
import { BlockError } from '@tsemu/block-core';
import { decodeCompressed, type CompressedLocation } from './compressed.js';
import {
  INCOMPAT_DIRTY, OFFSET_MASK_HI, OFFSET_MASK_LO, OFLAG_COMPRESSED_HI, OFLAG_COPIED_HI, OFLAG_ZERO_LO,
} from './constants.js';
import type { Qcow2Image } from './image.js';
import { readSnapshotTable } from './snapshot-table.js';
import { Qcow2Snapshots } from './snapshots.js';

export interface Qcow2CheckResult {
  corruptions: number;
  leaks: number;
  corruptionsFixed: number;
  leaksFixed: number;
  totalClusters: number;
  allocatedClusters: number;
  fragmentedClusters: number;
  compressedClusters: number;
  imageEndOffset: number;
  /** QEMU's per-cluster lines ("Leaked cluster 6 refcount=2 reference=1", "ERROR cluster ..."). */
  messages: string[];
}

export type Qcow2Repair = 'none' | 'leaks' | 'all';

/** References this far past the end of the file are not counted (a hostile offset must not size the array). */
const MAX_CLUSTERS_PAST_EOF = 1 << 20;

class ReferenceCounts {
  counts: Uint32Array;
  private readonly limit: number;
  constructor(clusters: number) {
    this.counts = new Uint32Array(Math.max(1, clusters));
    this.limit = clusters + MAX_CLUSTERS_PAST_EOF;
  }

  /** Adds one reference to every cluster of [host, host+bytes); false if out of range. */
  inc(host: number, bytes: number, cs: number): boolean {
    if (bytes <= 0) return true;
    const first = Math.floor(host / cs);
    const last = Math.floor((host + bytes - 1) / cs);
    if (last >= this.limit) return false;
    if (last >= this.counts.length) {
      const grown = new Uint32Array(Math.min(this.limit, Math.max(last + 1, this.counts.length * 2)));
      grown.set(this.counts);
      this.counts = grown;
    }
    for (let c = first; c <= last; c++) this.counts[c]!++;
    return true;
  }
}

export class Qcow2Checker {
  private readonly cs: number;
  private refs!: ReferenceCounts;
  private result!: Qcow2CheckResult;
  /** OFLAG_COPIED findings: QEMU reports them after the refcount comparison. */
  private copiedErrors: string[] = [];
  private readonly loc: CompressedLocation = { host: 0, bytes: 0 };

  constructor(private readonly img: Qcow2Image) {
    this.cs = img.clusterSize;
  }

  /** Caller holds the metadata lock (or has the image to itself). */
  async run(repair: Qcow2Repair): Promise<Qcow2CheckResult> {
    if (this.img.map.extendedL2) throw new BlockError('ENOTSUP', 'qcow2: checking images with extended L2 entries is not supported yet');
    // The walk reads L2 tables from the file, and repairs must be on disk step by step.
    return this.img.writeThrough(() => this.runWriteThrough(repair));
  }

  private async runWriteThrough(repair: Qcow2Repair): Promise<Qcow2CheckResult> {
    // QEMU checks OFLAG_COPIED after repairing refcounts, against the repaired counts.
    const first = await this.pass(repair === 'none');
    if (repair === 'none') return first;
    const repaired = first.leaks > 0 || first.corruptions > 0 ? await this.fix(repair) : [];
    let after = await this.pass(true);
    if (repair === 'all' && this.copiedErrors.length > 0) {
      await new Qcow2Snapshots(this.img).refreshCopiedFlags();
      after = await this.pass(true);
    }
    after.messages = first.messages.concat(repaired, after.messages);
    after.leaksFixed = Math.max(0, first.leaks - after.leaks);
    after.corruptionsFixed = Math.max(0, first.corruptions - after.corruptions);
    return after;
  }

  private async pass(withCopied: boolean): Promise<Qcow2CheckResult> {
    const img = this.img;
    const h = img.header;
    const cs = this.cs;
    this.refs = new ReferenceCounts(Math.ceil(img.file.size / cs));
    this.result = {
      corruptions: 0, leaks: 0, corruptionsFixed: 0, leaksFixed: 0,
      totalClusters: Math.ceil(h.size / cs), allocatedClusters: 0, fragmentedClusters: 0, compressedClusters: 0,
      imageEndOffset: 0, messages: [],
    };
    this.copiedErrors = [];
    this.ref(0, cs);
    await this.walkL1(h.l1TableOffset, h.l1Size, true);
    if (h.nbSnapshots > 0) {
      const table = await readSnapshotTable(img.file, h.snapshotsOffset, h.nbSnapshots);
      this.ref(h.snapshotsOffset, table.bytes);
      for (const s of table.snapshots) {
        if (s.l1Size > 32 * 1024 * 1024 / 8 || s.l1Offset % cs !== 0) {
          this.error(`ERROR snapshot ${s.id} (${s.name}) l1_offset=${hex(s.l1Offset)}: L1 table is not cluster aligned; snapshot table entry corrupted`);
          continue;
        }
        await this.walkL1(s.l1Offset, s.l1Size, false);
      }
    }
    const rt = img.refcounts;
    this.ref(rt.offset, rt.clusters * cs);
    for (const off of rt.blockOffsets()) {
      if (off % cs !== 0) this.error(`ERROR refcount block at ${hex(off)} is not cluster aligned; refcount table entry corrupted`);
      else this.ref(off, cs);
    }
    await this.compare();
    if (withCopied) {
      this.result.corruptions += this.copiedErrors.length;
      this.result.messages.push(...this.copiedErrors);
    }
    return this.result;
  }

  private ref(host: number, bytes: number): void {
    if (!this.refs.inc(host, bytes, this.cs)) this.error(`ERROR: reference to ${hex(host)} is beyond any sensible image size`);
  }

  private error(line: string): void {
    this.result.corruptions++;
    this.result.messages.push(line);
  }

  private async walkL1(l1Offset: number, l1Size: number, active: boolean): Promise<void> {
    const img = this.img;
    const cs = this.cs;
    if (l1Size === 0) return;
    this.ref(l1Offset, l1Size * 8);
    const l1 = new Uint8Array(l1Size * 8);
    await img.file.read(l1Offset, l1);
    const dv = new DataView(l1.buffer);
    const table = new Uint8Array(cs);
    const tdv = new DataView(table.buffer);
    for (let i = 0; i < l1Size; i++) {
      const hi = dv.getUint32(i * 8);
      const l2 = (hi & OFFSET_MASK_HI) * 4294967296 + ((dv.getUint32(i * 8 + 4) & OFFSET_MASK_LO) >>> 0);
      if (l2 === 0) continue;
      if (l2 % cs !== 0) {
        this.error(`ERROR l2_offset=${hex(l2)}: Table is not cluster aligned; L1 entry corrupted`);
        continue;
      }
      this.ref(l2, cs);
      if (active) {
        const rc = await img.refcounts.get(l2 / cs);
        if (((hi & OFLAG_COPIED_HI) !== 0) !== (rc === 1)) {
          this.copiedErrors.push(`ERROR OFLAG_COPIED L2 cluster: l1_index=${i} l1_entry=${hex(hi * 4294967296 + dv.getUint32(i * 8 + 4))} refcount=${rc}`);
        }
      }
      await img.file.read(l2, table);
      await this.walkL2(tdv, active);
    }
  }

  private async walkL2(dv: DataView, active: boolean): Promise<void> {
    const img = this.img;
    const cs = this.cs;
    const res = this.result;
    let nextContiguous = 0;
    for (let j = 0; j < cs / 8; j++) {
      const hi = dv.getUint32(j * 8);
      const lo = dv.getUint32(j * 8 + 4);
      if ((hi & OFLAG_COMPRESSED_HI) !== 0) {
        decodeCompressed(hi, lo, img.clusterBits, this.loc);
        this.ref(this.loc.host, this.loc.bytes);
        if (active) {
          res.allocatedClusters++;
          res.compressedClusters++;
          res.fragmentedClusters++;
        }
        continue;
      }
      const host = (hi & OFFSET_MASK_HI) * 4294967296 + ((lo & OFFSET_MASK_LO) >>> 0);
      if (host === 0) continue;
      if (host % cs !== 0) {
        this.error(`ERROR offset=${hex(host)}: Cluster is not properly aligned; L2 entry corrupted.`);
        continue;
      }
      this.ref(host, cs);
      if (!active) continue;
      res.allocatedClusters++;
      if (nextContiguous !== 0 && host !== nextContiguous) res.fragmentedClusters++;
      nextContiguous = host + cs;
      const rc = await img.refcounts.get(host / cs);
      if (((hi & OFLAG_COPIED_HI) !== 0) !== (rc === 1) && (lo & OFLAG_ZERO_LO) === 0) {
        this.copiedErrors.push(`ERROR OFLAG_COPIED data cluster: l2_entry=${hex(hi * 4294967296 + lo)} refcount=${rc}`);
      }
    }
  }

  private async compare(): Promise<void> {
    const rc = this.img.refcounts;
    const counts = this.refs.counts;
    const res = this.result;
    const n = Math.max(counts.length, Math.ceil(this.img.file.size / this.cs));
    let highest = -1;
    for (let c = 0; c < n; c++) {
      const stored = await rc.get(c);
      const ref = c < counts.length ? counts[c]! : 0;
      if (stored > 0 || ref > 0) highest = c;
      if (stored === ref) continue;
      if (stored > ref) {
        res.leaks++;
        res.messages.push(`Leaked cluster ${c} refcount=${stored} reference=${ref}`);
      } else {
        res.corruptions++;
        res.messages.push(`ERROR cluster ${c} refcount=${stored} reference=${ref}`);
      }
    }
    res.imageEndOffset = (highest + 1) * this.cs;
  }

  /** Sets every mismatching refcount to the computed reference count. */
  private async fix(repair: Qcow2Repair): Promise<string[]> {
    const lines: string[] = [];
    const rc = this.img.refcounts;
    const refs = this.refs;
    const cs = this.cs;
    // New refcount blocks / tables must neither land on referenced clusters nor be forgotten.
    rc.isInUse = (c) => c < refs.counts.length && refs.counts[c]! > 0;
    const prevHook = rc.onBlockCreated;
    rc.onBlockCreated = (off) => {
      prevHook(off);
      refs.inc(off, cs, cs);
    };
    try {
      const fileClusters = Math.ceil(this.img.file.size / cs);
      for (let c = 0; c < Math.max(refs.counts.length, fileClusters); c++) {
        const tableOffset = rc.offset;
        const tableClusters = rc.clusters;
        const stored = await rc.get(c);
        const ref = c < refs.counts.length ? refs.counts[c]! : 0;
        if (stored === ref || (stored < ref && repair !== 'all')) continue;
        lines.push(`Repairing cluster ${c} refcount=${stored} reference=${ref}`);
        await rc.update(c, 1, ref - stored);
        if (rc.offset !== tableOffset) {
          // The table moved while growing: count the new one (the old one was freed by the move).
          refs.inc(rc.offset, rc.clusters * cs, cs);
          for (let k = 0; k < tableClusters; k++) refs.counts[tableOffset / cs + k]!--;
        }
      }
    } finally {
      rc.isInUse = undefined;
      rc.onBlockCreated = prevHook;
    }
    return lines;
  }
}

/** Repairs a dirty (lazy refcounts) image on a read-write open, then clears the dirty bit. */
export async function repairDirtyImage(img: Qcow2Image): Promise<void> {
  if (img.header.unknownExtensions.some((e) => e.type === 0x23852875)) {
    throw new BlockError('ENOTSUP', 'qcow2: cannot repair a dirty image with persistent bitmaps');
  }
  const result = await new Qcow2Checker(img).run('all');
  if (result.corruptions > 0) throw new BlockError('EIO', 'qcow2: could not repair dirty image: corruptions remain');
  await img.file.flush();
  img.header.incompatibleFeatures &= ~INCOMPAT_DIRTY;
  await img.writeHeader();
  await img.file.flush();
}

function hex(n: number): string {
  return n.toString(16);
}
