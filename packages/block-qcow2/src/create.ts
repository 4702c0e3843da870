// Image creation, laid out as QEMU 7.2 lays it out: header in cluster 0,
// refcount table in cluster 1, its first refcount block in cluster 2, then
// the L1 table (allocated like any cluster) and, with preallocation, L2
// tables and data clusters.
import { BlockError, type CreateContext } from '@tsemu/block-core';
import { COMPAT_LAZY_REFCOUNTS, INCOMPAT_COMPRESSION, OFLAG_COPIED_HI } from './constants.js';
import { parseCreateOptions, type Qcow2CreateParams } from './create-options.js';
import { Qcow2Header } from './header.js';
import type { Qcow2FileNode } from './host-file.js';
import type { Qcow2Image } from './image.js';
import { openQcow2Image } from './open.js';
import { setRefcount } from './refcount-codec.js';

export async function createQcow2(ctx: CreateContext): Promise<void> {
  const params = parseCreateOptions(ctx.options, ctx.size);
  // qcow2's own options (preallocation included) are not the protocol's: create it empty and plain.
  await ctx.createFile(ctx.filename, 0, {});
  const node = await ctx.openFile(ctx.filename);
  try {
    await formatQcow2(node, params);
    await node.flush();
  } finally {
    await node.close();
  }
}

/** Writes a fresh qcow2 image into an empty file node. */
export async function formatQcow2(node: Qcow2FileNode, p: Qcow2CreateParams): Promise<void> {
  const cs = 2 ** p.clusterBits;
  const h = new Qcow2Header();
  h.version = p.version;
  h.clusterBits = p.clusterBits;
  h.refcountOrder = p.refcountOrder;
  h.compressionType = p.compressionType;
  if (p.compressionType !== 0) h.incompatibleFeatures |= INCOMPAT_COMPRESSION;
  if (p.lazyRefcounts) h.compatibleFeatures |= COMPAT_LAZY_REFCOUNTS;
  h.backingFile = p.backingFile;
  h.backingFormat = p.backingFile !== undefined ? p.backingFormat : undefined;
  h.refcountTableOffset = cs;
  h.refcountTableClusters = 1;
  await node.write(0, h.serialize());
  // Refcount table -> block at cluster 2, which counts clusters 0..2.
  const table = new Uint8Array(cs);
  new DataView(table.buffer).setBigUint64(0, BigInt(2 * cs));
  await node.write(cs, table);
  const block = new Uint8Array(cs);
  const bdv = new DataView(block.buffer);
  for (let i = 0; i < 3; i++) setRefcount(block, bdv, p.refcountOrder, i, 1);
  await node.write(2 * cs, block);

  let img = await openQcow2Image(node, undefined, { readOnly: false });
  const l1Size = Math.ceil(p.size / (cs * (cs / 8)));
  if (l1Size > 0) {
    const l1 = await img.writeThrough(() => img.refcounts.allocate(Math.ceil((l1Size * 8) / cs)));
    // QEMU writes only the entries, so the file may end inside the L1 cluster.
    await node.write(l1, new Uint8Array(l1Size * 8));
    img.header.l1TableOffset = l1;
    img.header.l1Size = l1Size;
  }
  img.header.size = p.size;
  await img.writeHeader();
  await img.close();
  if (p.preallocation !== 'off' && p.size > 0) {
    img = await openQcow2Image(node, undefined, { readOnly: false });
    const opened = img;
    await opened.writeThrough(() => preallocate(opened, node, p));
    await img.close();
  }
}

/** Every guest cluster gets an L2 entry and a data cluster (holes in the file until written). */
async function preallocate(img: Qcow2Image, node: Qcow2FileNode, p: Qcow2CreateParams): Promise<void> {
  const cs = img.clusterSize;
  const map = img.map;
  const totalClusters = Math.ceil(p.size / cs);
  let end = 0;
  for (let i = 0; i < map.l1Size; i++) {
    const n = Math.min(map.l2Entries, totalClusters - i * map.l2Entries);
    const l2 = await img.refcounts.allocate(1);
    const data = await img.refcounts.allocate(n);
    const t = new Uint8Array(cs);
    const dv = new DataView(t.buffer);
    for (let k = 0; k < n; k++) {
      const host = data + k * cs;
      dv.setUint32(k * 8, (OFLAG_COPIED_HI | Math.floor(host / 4294967296)) >>> 0);
      dv.setUint32(k * 8 + 4, host >>> 0);
    }
    await img.file.write(l2, t);
    await map.setL1(i, l2, true);
    end = Math.max(end, data + n * cs, l2 + cs);
  }
  if (p.preallocation === 'full') {
    // Write real zeroes over the data clusters (QEMU's full: space is really allocated).
    const zero = new Uint8Array(Math.min(1 << 20, end));
    for (let i = 0; i < map.l1Size; i++) {
      const t = await map.table(i);
      if (!t) continue;
      const host = map.l2Offset(i) === 0 ? 0 : (t.dv.getUint32(0) & 0x00ffffff) * 4294967296 + t.dv.getUint32(4);
      const n = Math.min(map.l2Entries, totalClusters - i * map.l2Entries) * cs;
      for (let pos = 0; pos < n; pos += zero.length) await img.file.write(host + pos, zero.subarray(0, Math.min(zero.length, n - pos)));
    }
  }
  if (img.file.size < end) {
    if (node.truncate) await img.file.truncate(end);
    else await img.file.write(end - 1, new Uint8Array(1));
  }
  if (end > 2 ** 56) throw new BlockError('EFBIG');
}
