// Preallocation of the guest range [from, to) when an image grows (create
// starts from size 0, so create and resize share this), laid out as QEMU 7.2
// lays it out:
// - metadata: per L2 table, the table (if missing), then one run of data
//   clusters for each run of unallocated entries; the file is extended to
//   the last data cluster, sparse.
// - falloc / full: new refcount structures at the end of the file covering
//   everything to come (QEMU's qcow2_refcount_area), the data area right
//   after them, counted in one step; the file grown over it with fallocate(2)
//   (falloc) or written zeroes (full); then the L2 entries, L2 tables being
//   allocated as any cluster (the old refcount table's place first).
// Caller holds the lock in write-through mode; the L1 table is big enough.
import { BlockError, type Preallocation } from '@tsemu/block-core';
import { OFFSET_MASK_HI, OFFSET_MASK_LO, OFLAG_COMPRESSED_HI, OFLAG_COPIED_HI } from './constants.js';
import type { Qcow2Image } from './image.js';
import type { Qcow2L2Table } from './l2-cache.js';

/** The file node's truncate as block-core's BlockNode has it (with a preallocation mode). */
interface PreallocatingNode {
  truncate?(size: number, exact?: boolean, prealloc?: Preallocation): Promise<void>;
}

/**
 * Copies the shared L2 table of L1 index `i` (an internal snapshot holds it
 * too) to a table of its own, as a guest write would (the writer's L2 COW).
 */
export type MakeTableWritable = (i: number) => Promise<void>;

export async function preallocate(img: Qcow2Image, from: number, to: number, mode: Preallocation, makeWritable?: MakeTableWritable): Promise<void> {
  if (mode === 'off' || to <= from) return;
  if (mode === 'metadata') await preallocateMetadata(img, from, to, makeWritable);
  else await preallocateData(img, from, to, mode, makeWritable);
}

/** The L2 table of L1 index `i`, allocated (zeroed) if missing, copied first if a snapshot shares it. */
async function l2Table(img: Qcow2Image, i: number, writable: MakeTableWritable | undefined): Promise<Qcow2L2Table> {
  const map = img.map;
  if (map.l2Offset(i) !== 0) {
    if (!map.l1Copied(i)) {
      if (writable === undefined) throw new BlockError('ENOTSUP', 'qcow2: preallocating into L2 tables shared with snapshots is not supported');
      await writable(i);
    }
    return (await map.table(i))!;
  }
  const off = await img.refcounts.allocate(1);
  img.metadataClusters.add(off / img.clusterSize);
  await img.file.write(off, new Uint8Array(img.clusterSize));
  await img.file.flush();
  await map.setL1(i, off, true);
  return (await map.table(i))!;
}

/** Entry `k` of an L2 table needs a data cluster (unallocated, a zero cluster without one, or compressed). */
function needsCluster(t: Qcow2L2Table, k: number): boolean {
  const hi = t.dv.getUint32(k * 8);
  if (hi & OFLAG_COMPRESSED_HI) return true;
  return (hi & OFFSET_MASK_HI) === 0 && (t.dv.getUint32(k * 8 + 4) & OFFSET_MASK_LO) === 0;
}

function hostOf(t: Qcow2L2Table, k: number): number {
  return (t.dv.getUint32(k * 8) & OFFSET_MASK_HI) * 4294967296 + ((t.dv.getUint32(k * 8 + 4) & OFFSET_MASK_LO) >>> 0);
}

async function preallocateMetadata(img: Qcow2Image, from: number, to: number, makeWritable?: MakeTableWritable): Promise<void> {
  const cs = img.clusterSize;
  const perTable = img.map.l2Entries;
  const first = Math.floor(from / cs);
  const last = Math.ceil(to / cs);
  let end = 0;
  for (let c = first; c < last;) {
    const i = Math.floor(c / perTable);
    const stop = Math.min(last, (i + 1) * perTable);
    const t = await l2Table(img, i, makeWritable);
    for (let k = c - i * perTable; k < stop - i * perTable;) {
      if (!needsCluster(t, k)) {
        end = hostOf(t, k) + cs;
        k++;
        continue;
      }
      let n = 1;
      while (k + n < stop - i * perTable && needsCluster(t, k + n)) n++;
      await replace(img, t, k, n);
      end = hostOf(t, k + n - 1) + cs;
      k += n;
    }
    c = stop;
  }
  if (end > img.file.size) await img.file.truncate(end);
}

/** Points `n` entries from `k` at newly allocated clusters (or at `host` onwards), freeing what they held. */
async function replace(img: Qcow2Image, t: Qcow2L2Table, k: number, n: number, host?: number): Promise<void> {
  const cs = img.clusterSize;
  const old: number[] = [];
  for (let x = k; x < k + n; x++) {
    const hi = t.dv.getUint32(x * 8);
    if (hi & OFLAG_COMPRESSED_HI) throw new BlockError('ENOTSUP', 'qcow2: preallocating over compressed clusters is not supported');
    if (hostOf(t, x) !== 0) old.push(hostOf(t, x));
  }
  const at = host ?? (await img.refcounts.allocate(n));
  await img.map.setL2(t, k, n, (OFLAG_COPIED_HI | Math.floor(at / 4294967296)) >>> 0, at >>> 0, true);
  for (const o of old) await img.refcounts.update(o / cs, 1, -1);
}

async function preallocateData(img: Qcow2Image, from: number, to: number, mode: Preallocation, makeWritable?: MakeTableWritable): Promise<void> {
  const cs = img.clusterSize;
  const rt = img.refcounts;
  // Where the image really ends: one past the last cluster with a refcount.
  const fileEnd = await rt.endOfUse(Math.ceil(img.file.size / cs));
  const firstCluster = Math.floor(from / cs);
  const dataClusters = Math.ceil(to / cs) - firstCluster;
  const l2Tables = Math.ceil(dataClusters / img.map.l2Entries) + 1;
  const start = await rt.refcountArea(fileEnd * cs, dataClusters + l2Tables);
  await rt.update(start / cs, dataClusters, 1);
  const size = start + dataClusters * cs;
  const node = img.file.node as PreallocatingNode;
  if (node.truncate === undefined) throw new BlockError('ENOTSUP', 'Protocol driver does not support resize');
  await node.truncate(size, false, mode);
  await img.file.truncate(size); // the same size again: brings the host file's idea of its length up to date
  const perTable = img.map.l2Entries;
  let host = start;
  for (let c = firstCluster; c < firstCluster + dataClusters;) {
    const i = Math.floor(c / perTable);
    const stop = Math.min(firstCluster + dataClusters, (i + 1) * perTable);
    const t = await l2Table(img, i, makeWritable);
    await replace(img, t, c - i * perTable, stop - c, host);
    host += (stop - c) * cs;
    c = stop;
  }
}
