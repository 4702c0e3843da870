// Changing refcount_bits in place (qemu-img amend -o refcount_bits=N), in the
// steps QEMU 7.2 takes, so the result has qemu-img's layout:
//  1. walk every refcount (old table, in cluster order) and allocate, in the
//     old structure, one new refcount block per non-empty range of the new
//     width; then the new table. Allocating counts new clusters, so walk again
//     until a walk allocates nothing (the table is re-allocated each time).
//  2. walk once more, writing the new blocks (the old refcounts re-encoded).
//  3. write the new table, flush, switch the header to it (width, offset,
//     size), flush; only now is the new structure reachable (a crash before
//     leaves leaked clusters at most).
//  4. free the old blocks and table in the new structure.
// A refcount that does not fit the new width stops the walk with QEMU's
// message; what was allocated is freed again.
import { BlockError } from '@tsemu/block-core';
import { cHexAlt } from './c-format.js';
import { MAX_REFTABLE_BYTES } from './constants.js';
import type { Qcow2Image } from './image.js';
import { getRefcount, refcountText, setRefcount } from './refcount-codec.js';

/** Progress of one operation: (work done, total work), as QEMU's BlockDriverAmendStatusCB. */
export type OperationStatus = (done: number, total: number) => void;

/** Caller holds the lock in write-through mode (every refcount change reaches the file at once). */
export async function changeRefcountOrder(img: Qcow2Image, order: number, status: OperationStatus): Promise<void> {
  const rt = img.refcounts;
  const cs = img.clusterSize;
  const h = img.header;
  const oldOrder = h.refcountOrder;
  const oldPer = rt.entriesPerBlock;
  const newPer = (cs * 8) / 2 ** order;
  const limit = order < 6 ? 2 ** (2 ** order) : Infinity;
  const perTableCluster = cs / 8;
  // The new table as it grows (offsets; 0 = no block), and its size in entries.
  let table = new Float64Array(0);
  let size = 0;
  let allocated = false;
  let tableOffset = 0;
  let tableEntries = 0;
  const block = new Uint8Array(cs);
  const bdv = new DataView(block.buffer);

  /** QEMU's alloc_refblock: a block for every non-empty range, the table grown to hold it. */
  const allocOp = async (k: number, empty: boolean): Promise<void> => {
    if (empty) return;
    if (k >= size) {
      const grown = Math.ceil((k + 1) / perTableCluster) * perTableCluster;
      if (grown > MAX_REFTABLE_BYTES / 8) {
        throw new BlockError('ENOTSUP', 'This operation would make the refcount table grow beyond the maximum size supported by QEMU, aborting');
      }
      const t = new Float64Array(grown);
      t.set(table);
      table = t;
      size = grown;
    }
    if (table[k] === 0) {
      table[k] = await rt.allocate(1);
      allocated = true;
    }
  };
  /** QEMU's flush_refblock: the re-encoded block written where the first phase put it. */
  const writeOp = async (k: number): Promise<void> => {
    if (k < size && table[k] !== 0) await img.file.write(table[k]!, block);
  };

  /** One walk over all old refcounts, cut into ranges of the new block size. */
  const walk = async (write: boolean, index: number, total: number): Promise<void> => {
    let nextReport = 0;
    for (let k = 0; ; k++) {
      const entries = rt.entries; // live: an allocation may have grown the old table
      const start = k * newPer;
      if (start >= entries * oldPer) break;
      const end = Math.min(start + newPer, entries * oldPer);
      if (write) block.fill(0);
      let empty = true;
      for (let c = start; c < end;) {
        const bi = Math.floor(c / oldPer);
        // QEMU reports at the start of each old block.
        for (; nextReport <= bi; nextReport++) status(index * rt.entries + nextReport, total * rt.entries);
        const base = bi * oldPer;
        const stop = Math.min(end, base + oldPer);
        const blk = rt.entryAt(bi) === 0 ? null : await rt.blockData(bi);
        if (blk !== null) {
          const { data, dv } = blk;
          for (let x = c; x < stop; x++) {
            const v = getRefcount(data, dv, oldOrder, x - base);
            if (v === 0) continue;
            empty = false;
            if (v >= limit) {
              throw new BlockError('EINVAL', `Cannot decrease refcount entry width to ${2 ** order} bits: ` +
                `Cluster at offset ${cHexAlt(x * cs)} has a refcount of ${refcountText(dv, oldOrder, x - base, v)}`);
            }
            if (write) setRefcount(block, bdv, order, x - start, v);
          }
        }
        c = stop;
      }
      if (write) await writeOp(k);
      else await allocOp(k, empty);
    }
    status((index + 1) * rt.entries, total * rt.entries);
  };

  let switched = false;
  const oldTable: number[] = [];
  const oldOffset = rt.offset;
  const oldClusters = rt.clusters;
  try {
    let index = 0;
    do {
      allocated = false;
      const total = Math.max(index + 2, 3);
      await walk(false, index++, total);
      if (allocated) {
        if (tableOffset !== 0) await rt.update(tableOffset / cs, (tableEntries * 8) / cs, -1);
        tableOffset = await rt.allocate((size * 8) / cs);
        tableEntries = size;
      }
    } while (allocated);
    await walk(true, index, index + 1);
    const raw = new Uint8Array(size * 8);
    const rdv = new DataView(raw.buffer);
    for (let i = 0; i < size; i++) if (table[i]) rdv.setBigUint64(i * 8, BigInt(table[i]!));
    await img.file.write(tableOffset, raw);
    await img.file.flush();
    for (let i = 0; i < rt.entries; i++) oldTable.push(rt.entryAt(i));
    h.refcountOrder = order;
    h.refcountTableOffset = tableOffset;
    h.refcountTableClusters = (size * 8) / cs;
    try {
      await img.writeHeader();
      await img.file.flush();
    } catch (err) {
      h.refcountOrder = oldOrder;
      h.refcountTableOffset = oldOffset;
      h.refcountTableClusters = oldClusters;
      throw err;
    }
    switched = true;
    await rt.switchOrder(order, tableOffset, (size * 8) / cs);
    for (let i = 0; i < size; i++) if (table[i]) img.metadataClusters.add(table[i]! / cs);
  } finally {
    // On success the old structure goes; on failure what was allocated for the new one (QEMU's `done:`).
    const blocks = switched ? oldTable : Array.from(table);
    for (const off of blocks) {
      if (off === 0) continue;
      if (switched) img.metadataClusters.delete(off / cs);
      await rt.update(off / cs, 1, -1);
    }
    if (switched) await rt.update(oldOffset / cs, oldClusters, -1);
    else if (tableOffset !== 0) await rt.update(tableOffset / cs, (tableEntries * 8) / cs, -1);
  }
}
