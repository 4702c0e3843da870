// Qcow2Snapshots: internal snapshots (qemu-img snapshot -l/-c/-a/-d).
// A snapshot is a copy of the active L1 table; every L2 table and data
// cluster it reaches gains one reference, and COPIED flags of the active
// tables follow refcount == 1. Callers keep the image quiescent (no guest I/O
// in flight), as qemu-img does.
//
// Order (each step awaited; a crash leaves leaks, plus at worst COPIED flags
// that `qemu-img check -r all` fixes): create = L1 copy, refcount increments,
// COPIED flags, new snapshot table, header switch, old table freed; delete =
// new table, header switch, refcount decrements, COPIED flags.
import { BlockError } from '@tsemu/block-core';
import { decodeCompressed, type CompressedLocation } from './compressed.js';
import {
  OFFSET_MASK_HI, OFFSET_MASK_LO, OFLAG_COMPRESSED_HI, OFLAG_COPIED_HI,
} from './constants.js';
import type { Qcow2Image } from './image.js';
import { growL1 } from './resize.js';
import { encodeSnapshotTable, readSnapshotTable, type Qcow2Snapshot } from './snapshot-table.js';

export interface SnapshotCreateOptions {
  dateSec?: number;
  dateNsec?: number;
  vmClockNsec?: bigint;
}

export class Qcow2Snapshots {
  private readonly loc: CompressedLocation = { host: 0, bytes: 0 };

  constructor(private readonly img: Qcow2Image) {}

  async list(): Promise<Qcow2Snapshot[]> {
    const h = this.img.header;
    return (await readSnapshotTable(this.img.file, h.snapshotsOffset, h.nbSnapshots)).snapshots;
  }

  async create(name: string, opts: SnapshotCreateOptions = {}): Promise<Qcow2Snapshot> {
    const img = this.img;
    this.checkWritable();
    await img.flushPending();
    return this.discardingFrees(() => img.lockedWriteThrough(async () => {
      const h = img.header;
      const map = img.map;
      const cs = img.clusterSize;
      const old = await readSnapshotTable(img.file, h.snapshotsOffset, h.nbSnapshots);
      let maxId = 0;
      for (const s of old.snapshots) maxId = Math.max(maxId, Number.parseInt(s.id, 10) || 0);
      let l1Offset = 0;
      if (map.l1Size > 0) {
        l1Offset = await img.refcounts.allocate(Math.ceil((map.l1Size * 8) / cs));
        const raw = new Uint8Array(map.l1Size * 8);
        const dv = new DataView(raw.buffer);
        // The active L1 as it is, COPIED flags included, as QEMU writes it (readers ignore them).
        for (let i = 0; i < map.l1Size; i++) {
          dv.setUint32(i * 8, map.l1[i * 2]!);
          dv.setUint32(i * 8 + 4, map.l1[i * 2 + 1]!);
        }
        await img.file.write(l1Offset, raw);
      }
      const now = Date.now();
      const snap: Qcow2Snapshot = {
        l1Offset, l1Size: map.l1Size, id: String(maxId + 1), name,
        dateSec: opts.dateSec ?? Math.floor(now / 1000), dateNsec: opts.dateNsec ?? (now % 1000) * 1e6,
        vmClockNsec: opts.vmClockNsec ?? 0n, vmStateSize: 0, diskSize: h.size, icount: 0n, extra: new Uint8Array(0),
      };
      await this.adjustTree(map.l1, map.l1Size, 1);
      await this.refreshCopiedFlags();
      await this.writeTable([...old.snapshots, snap], old.bytes);
      return snap;
    }));
  }

  async delete(idOrName: string): Promise<void> {
    const img = this.img;
    this.checkWritable();
    await img.flushPending();
    await this.discardingFrees(() => img.lockedWriteThrough(async () => {
      const h = img.header;
      const old = await readSnapshotTable(img.file, h.snapshotsOffset, h.nbSnapshots);
      const i = findSnapshot(old.snapshots, idOrName);
      const snap = old.snapshots[i]!;
      const rest = old.snapshots.filter((_, k) => k !== i);
      await this.writeTable(rest, old.bytes);
      const l1 = await this.readL1(snap);
      await this.adjustTree(l1, snap.l1Size, -1);
      if (snap.l1Size > 0) await img.refcounts.update(snap.l1Offset / img.clusterSize, Math.ceil((snap.l1Size * 8) / img.clusterSize), -1);
      await this.refreshCopiedFlags();
    }));
  }

  /**
   * As QEMU's goto (qcow2_update_snapshot_refcount on the snapshot's L1): the
   * snapshot's own L1 table is written back with its COPIED flags recomputed
   * from the new refcounts, where they changed. The active L1 takes the table
   * as it was read (`l1`, left untouched), as in QEMU.
   */
  private async rewriteSnapshotL1(snap: Qcow2Snapshot, l1: Uint32Array): Promise<void> {
    const img = this.img;
    const cs = img.clusterSize;
    const raw = new Uint8Array(snap.l1Size * 8);
    const dv = new DataView(raw.buffer);
    let changed = false;
    for (let i = 0; i < snap.l1Size; i++) {
      let hi = l1[i * 2]!;
      const lo = l1[i * 2 + 1]!;
      const l2 = (hi & OFFSET_MASK_HI) * 4294967296 + ((lo & OFFSET_MASK_LO) >>> 0);
      if (l2 !== 0) {
        const want = ((await img.refcounts.get(l2 / cs)) === 1 ? hi | OFLAG_COPIED_HI : hi & ~OFLAG_COPIED_HI) >>> 0;
        if (want !== hi) changed = true;
        hi = want;
      }
      dv.setUint32(i * 8, hi);
      dv.setUint32(i * 8 + 4, lo);
    }
    if (changed) await img.file.write(snap.l1Offset, raw);
  }

  /**
   * Runs a snapshot operation, then discards in the file the clusters it freed
   * that are still free (QEMU's QCOW2_DISCARD_SNAPSHOT, pass-discard-snapshot,
   * on by default): a deleted snapshot's data, tables and old snapshot table.
   */
  private async discardingFrees<T>(op: () => Promise<T>): Promise<T> {
    const img = this.img;
    const freed: number[] = [];
    img.refcounts.freedLog = freed;
    let result: T;
    try {
      result = await op();
    } finally {
      img.refcounts.freedLog = null;
    }
    if (!img.passDiscard.snapshot || freed.length === 0) return result;
    freed.sort((a, b) => a - b);
    const cs = img.clusterSize;
    for (let i = 0; i < freed.length;) {
      const c = freed[i]!;
      let n = 1;
      if ((await img.refcounts.get(c)) === 0) {
        while (i + n < freed.length && freed[i + n] === c + n && (await img.refcounts.get(c + n)) === 0) n++;
        await img.file.discard(c * cs, n * cs);
      }
      i += n;
    }
    return result;
  }

  /** Reverts the active image to a snapshot (its disk size must equal the current one). */
  async apply(idOrName: string): Promise<void> {
    const img = this.img;
    this.checkWritable();
    await img.flushPending();
    await this.discardingFrees(() => img.lockedWriteThrough(async () => {
      const h = img.header;
      const map = img.map;
      const { snapshots } = await readSnapshotTable(img.file, h.snapshotsOffset, h.nbSnapshots);
      const snap = snapshots[findSnapshot(snapshots, idOrName)]!;
      if (snap.diskSize !== undefined && snap.diskSize !== h.size) {
        throw new BlockError('ENOTSUP', 'qcow2: Loading snapshots with different disk size is not supported');
      }
      if (snap.l1Size > map.l1Size) await growL1(img, snap.l1Size);
      const next = await this.readL1(snap);
      await this.adjustTree(next, snap.l1Size, 1);
      await this.rewriteSnapshotL1(snap, next);
      const previous = map.l1.slice();
      const previousSize = map.l1Size;
      const raw = new Uint8Array(map.l1Size * 8);
      const dv = new DataView(raw.buffer);
      for (let i = 0; i < snap.l1Size * 2; i++) dv.setUint32(i * 4, next[i]!);
      await img.file.write(map.l1Offset, raw);
      map.l1.fill(0);
      map.l1.set(next.subarray(0, Math.min(next.length, map.l1.length)));
      await this.adjustTree(previous, previousSize, -1);
      await this.refreshCopiedFlags();
    }));
  }

  private checkWritable(): void {
    if (this.img.readOnly) throw new BlockError('EPERM', 'Block node is read-only');
  }

  private async readL1(snap: Qcow2Snapshot): Promise<Uint32Array> {
    if (snap.l1Size > 32 * 1024 * 1024 / 8 || snap.l1Offset % this.img.clusterSize !== 0) {
      throw new BlockError('EFBIG', 'Snapshot L1 table too large or misaligned');
    }
    const raw = new Uint8Array(snap.l1Size * 8);
    await this.img.file.read(snap.l1Offset, raw);
    const dv = new DataView(raw.buffer);
    const out = new Uint32Array(snap.l1Size * 2);
    for (let i = 0; i < out.length; i++) out[i] = dv.getUint32(i * 4);
    return out;
  }

  /** +1/-1 on every L2 table an L1 reaches and on every cluster those tables reference. */
  private async adjustTree(l1: Uint32Array, l1Size: number, delta: number): Promise<void> {
    const img = this.img;
    const cs = img.clusterSize;
    const rc = img.refcounts;
    const table = new Uint8Array(cs);
    const dv = new DataView(table.buffer);
    for (let i = 0; i < l1Size; i++) {
      const l2 = (l1[i * 2]! & OFFSET_MASK_HI) * 4294967296 + ((l1[i * 2 + 1]! & OFFSET_MASK_LO) >>> 0);
      if (l2 === 0) continue;
      await img.file.read(l2, table);
      for (let j = 0; j < cs / 8; j++) {
        const hi = dv.getUint32(j * 8);
        const lo = dv.getUint32(j * 8 + 4);
        if ((hi & OFLAG_COMPRESSED_HI) !== 0) {
          decodeCompressed(hi, lo, img.clusterBits, this.loc);
          const first = Math.floor(this.loc.host / cs);
          await rc.update(first, Math.floor((this.loc.host + this.loc.bytes - 1) / cs) - first + 1, delta);
          continue;
        }
        const host = (hi & OFFSET_MASK_HI) * 4294967296 + ((lo & OFFSET_MASK_LO) >>> 0);
        if (host !== 0) await rc.update(host / cs, 1, delta);
      }
      const freed = await rc.update(l2 / cs, 1, delta);
      if (freed > 0) {
        img.map.cache.drop(l2);
        img.metadataClusters.delete(l2 / cs);
      }
    }
  }

  /** Sets COPIED on active L1/L2 entries exactly where the refcount is 1 (also check -r all). Caller holds the lock. */
  async refreshCopiedFlags(): Promise<void> {
    const img = this.img;
    const map = img.map;
    const cs = img.clusterSize;
    const rc = img.refcounts;
    let l1Changed = false;
    for (let i = 0; i < map.l1Size; i++) {
      const l2 = map.l2Offset(i);
      if (l2 === 0) continue;
      const hi = (await rc.get(l2 / cs)) === 1 ? map.l1[i * 2]! | OFLAG_COPIED_HI : map.l1[i * 2]! & ~OFLAG_COPIED_HI;
      if (hi >>> 0 !== map.l1[i * 2]) {
        map.l1[i * 2] = hi >>> 0;
        l1Changed = true;
      }
      const t = (await map.table(i))!;
      let changed = false;
      for (let j = 0; j < cs / 8; j++) {
        const ehi = t.dv.getUint32(j * 8);
        const elo = t.dv.getUint32(j * 8 + 4);
        if ((ehi & OFLAG_COMPRESSED_HI) !== 0) continue;
        const host = (ehi & OFFSET_MASK_HI) * 4294967296 + ((elo & OFFSET_MASK_LO) >>> 0);
        if (host === 0) continue;
        const want = (await rc.get(host / cs)) === 1;
        if (want !== ((ehi & OFLAG_COPIED_HI) !== 0)) {
          t.dv.setUint32(j * 8, (want ? ehi | OFLAG_COPIED_HI : ehi & ~OFLAG_COPIED_HI) >>> 0);
          changed = true;
        }
      }
      if (changed) {
        const live = await map.live(t);
        if (live !== t) live.data.set(t.data);
        live.pins++;
        try {
          await img.file.write(live.offset, live.data);
        } finally {
          live.pins--;
        }
      }
    }
    if (l1Changed && map.l1Size > 0) {
      const raw = new Uint8Array(map.l1Size * 8);
      const dv = new DataView(raw.buffer);
      for (let i = 0; i < map.l1Size * 2; i++) dv.setUint32(i * 4, map.l1[i]!);
      await img.file.write(map.l1Offset, raw);
    }
  }

  /** Writes a new snapshot table, switches the header to it (12 bytes at 60), frees the old one. */
  /**
   * Writes `snapshots` as a new table and frees the old one (check -r all's
   * repair; caller is in write-through). Returns false when the old table's
   * clusters could not be freed (some have no refcount, e.g. past the end
   * of the file): QEMU reports that and goes on, the new table is in place.
   */
  async rewriteTable(snapshots: Qcow2Snapshot[], oldBytes: number): Promise<boolean> {
    const cs = this.img.clusterSize;
    const first = Math.floor(this.img.header.snapshotsOffset / cs);
    let freeable = true;
    for (let c = first; c < first + Math.ceil(oldBytes / cs); c++) {
      if ((await this.img.refcounts.get(c)) === 0) freeable = false;
    }
    await this.writeTable(snapshots, freeable ? oldBytes : 0, oldBytes);
    return freeable;
  }

  /** `oldRegion`: bytes of the old table, which the new one must not overlap (check's repair of a table past the end). */
  private async writeTable(snapshots: Qcow2Snapshot[], oldBytes: number, oldRegion = oldBytes): Promise<void> {
    const img = this.img;
    const h = img.header;
    const cs = img.clusterSize;
    const bytes = encodeSnapshotTable(snapshots);
    let off = 0;
    if (bytes.length > 0) {
      off = await img.refcounts.allocate(Math.ceil(bytes.length / cs));
      // QEMU's metadata overlap check before the write.
      if (oldRegion > 0 && off < h.snapshotsOffset + oldRegion && off + bytes.length > h.snapshotsOffset) {
        throw img.corrupt('Preventing invalid write on metadata (overlaps with snapshot table)');
      }
      // QEMU writes the table without the last entry's padding (the file may end there).
      await img.file.write(off, bytes.subarray(0, unpaddedLength(snapshots, bytes.length)));
      await img.file.flush();
    }
    const hb = new Uint8Array(12);
    const hdv = new DataView(hb.buffer);
    hdv.setUint32(0, snapshots.length);
    hdv.setBigUint64(4, BigInt(off));
    await img.file.write(60, hb);
    await img.file.flush();
    const oldOff = h.snapshotsOffset;
    h.nbSnapshots = snapshots.length;
    h.snapshotsOffset = off;
    if (oldBytes > 0) await img.refcounts.update(oldOff / cs, Math.ceil(oldBytes / cs), -1);
  }
}

/** The table's length without the padding after its last entry. */
function unpaddedLength(snapshots: readonly Qcow2Snapshot[], padded: number): number {
  const last = snapshots[snapshots.length - 1]!;
  const enc = new TextEncoder();
  const raw = 40 + Math.max(24, last.extra.length) + enc.encode(last.id).length + enc.encode(last.name).length;
  return padded - ((8 - (raw % 8)) % 8);
}

function findSnapshot(snapshots: readonly Qcow2Snapshot[], idOrName: string): number {
  let i = snapshots.findIndex((s) => s.id === idOrName);
  if (i < 0) i = snapshots.findIndex((s) => s.name === idOrName);
  if (i < 0) throw new BlockError('ENOENT', `Can't find snapshot '${idOrName}'`);
  return i;
}
