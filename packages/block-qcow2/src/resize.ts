// Resizing (qemu-img resize): growing the L1 table when the new size needs
// more entries (new table written first, then the header switched to it in
// one 12-byte write, then the old table freed), preallocating the new range
// (prealloc.ts, as create does), and shrinking by dropping the
// clusters and L2 tables past the new end. Like QEMU, data of a partial last
// cluster is not zeroed on shrink.
import { BlockError, type Preallocation } from '@tsemu/block-core';
import { MAX_L1_BYTES } from './constants.js';
import type { Qcow2Image } from './image.js';
import { preallocate } from './prealloc.js';
import type { Qcow2Writer } from './write-path.js';

export async function resizeQcow2(img: Qcow2Image, writer: Qcow2Writer, newSize: number, prealloc: Preallocation): Promise<void> {
  const h = img.header;
  if (h.nbSnapshots > 0 && h.version < 3) throw new BlockError('ENOTSUP', "Can't resize a v2 image which has snapshots");
  if (newSize % 512 !== 0) throw new BlockError('EINVAL', 'The new size must be a multiple of 512');
  if (newSize < h.size && prealloc !== 'off') throw new BlockError('ENOTSUP', "Preallocation can't be used for shrinking an image");
  // Preallocated clusters would hold plaintext zeroes, which an encrypted image deciphers to noise.
  if (img.crypto !== undefined && prealloc !== 'off') throw new BlockError('ENOTSUP', 'qcow2: preallocating encrypted images is not supported');
  const cs = img.clusterSize;
  const perTable = cs * (cs / 8);
  const oldSize = h.size;
  if (newSize < oldSize) {
    await writer.fullDiscard(Math.ceil(newSize / cs) * cs, Math.ceil(oldSize / cs) * cs);
  }
  await img.lockedWriteThrough(async () => {
    const map = img.map;
    const needed = Math.ceil(newSize / perTable);
    if (newSize < oldSize) {
      // L2 tables wholly past the end are empty now: unlink and free them.
      for (let i = needed; i < map.l1Size; i++) {
        const l2 = map.l2Offset(i);
        if (l2 === 0) continue;
        const t = await map.table(i);
        if (t && t.data.some((b) => b !== 0)) continue;
        await map.setL1(i, 0, false);
        map.cache.drop(l2);
        img.deferFree(l2, 1, true);
      }
    } else {
      if (needed > map.l1Size) await growL1(img, needed, true);
      await preallocate(img, oldSize, newSize, prealloc, (i) => writer.ensureWritableTable(i * img.map.l2Entries * img.clusterSize));
    }
    h.size = newSize;
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(newSize));
    await img.file.write(24, b);
  });
  if (newSize < oldSize) await cutFileAfterLastCluster(img);
}

/**
 * After a shrink, QEMU cuts the file after the last cluster still in use.
 * The dropped clusters' frees are applied first (when this is the only
 * request), and the refcounts are on disk before the file gets shorter, so a
 * crash in between leaves no refcount for a cluster past the end.
 */
async function cutFileAfterLastCluster(img: Qcow2Image): Promise<void> {
  await img.releaseFreesIfAlone();
  await img.writeBackAll();
  await img.file.flush();
  const cs = img.clusterSize;
  const end = await img.refcounts.endOfUse(Math.ceil(img.file.size / cs));
  if (end * cs < img.file.size) await img.file.truncate(end * cs);
}

/**
 * Caller holds the lock. Moves the active L1 table to a bigger one. The old
 * table is freed once no request is in flight, or at once with `freeNow`
 * (resize, as QEMU: a preallocation right after may reuse its clusters).
 */
export async function growL1(img: Qcow2Image, entries: number, freeNow = false): Promise<void> {
  if (entries * 8 > MAX_L1_BYTES) throw new BlockError('EFBIG', 'Failed to grow the L1 table: File too large');
  const h = img.header;
  const map = img.map;
  const cs = img.clusterSize;
  const off = await img.refcounts.allocate(Math.ceil((entries * 8) / cs));
  const raw = new Uint8Array(entries * 8);
  const dv = new DataView(raw.buffer);
  for (let i = 0; i < map.l1Size * 2; i++) dv.setUint32(i * 4, map.l1[i]!);
  await img.file.write(off, raw);
  await img.file.flush();
  const hb = new Uint8Array(12);
  const hdv = new DataView(hb.buffer);
  hdv.setUint32(0, entries);
  hdv.setBigUint64(4, BigInt(off));
  await img.file.write(36, hb);
  await img.file.flush();
  const oldOffset = map.l1Offset;
  const oldClusters = Math.ceil((map.l1Size * 8) / cs);
  map.replaceL1(off, entries);
  h.l1TableOffset = off;
  h.l1Size = entries;
  if (oldClusters > 0 && oldOffset !== 0) {
    if (freeNow) await img.refcounts.update(oldOffset / cs, oldClusters, -1);
    else img.deferFree(oldOffset, oldClusters, false);
  }
}
