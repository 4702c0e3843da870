// Image creation, laid out as QEMU 7.2 lays it out: header in cluster 0,
// refcount table in cluster 1, its first refcount block in cluster 2, then
// the L1 table (allocated like any cluster), a LUKS header's area when
// encrypted, and with preallocation, L2 tables and data clusters
// (prealloc.ts: the path resize takes too, as in QEMU).
import type { CreateContext } from '@tsemu/block-core';
import { formatLuks } from '@tsemu/block-luks';
import { COMPAT_LAZY_REFCOUNTS, EXT_CRYPTO, INCOMPAT_COMPRESSION } from './constants.js';
import { parseCreateOptions, type Qcow2CreateParams } from './create-options.js';
import type { Qcow2EncryptionSetup } from './encryption-options.js';
import type { Qcow2Image } from './image.js';
import { Qcow2Header } from './header.js';
import type { Qcow2FileNode } from './host-file.js';
import { openQcow2Image } from './open.js';
import { preallocate } from './prealloc.js';
import { setRefcount } from './refcount-codec.js';

export async function createQcow2(ctx: CreateContext): Promise<void> {
  const params = parseCreateOptions(ctx.options, ctx.size, false, ctx.secret);
  // qcow2's own options (preallocation included) are not the protocol's: create it empty, with only
  // the file options qcow2 does not have itself (nocow, extent_size_hint).
  const fileOptions: Record<string, string> = {};
  for (const key of ['nocow', 'extent_size_hint']) if (ctx.options[key] !== undefined) fileOptions[key] = ctx.options[key]!;
  await ctx.createFile(ctx.filename, 0, fileOptions);
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
  if (p.encryption !== undefined) await setUpEncryption(img, node, p.encryption);
  await img.writeHeader();
  await img.close();
  if (p.preallocation !== 'off' && p.size > 0) {
    img = await openQcow2Image(node, undefined, { readOnly: false });
    const opened = img;
    await opened.writeThrough(() => preallocate(opened, 0, p.size, p.preallocation));
    await img.close();
  }
}

/**
 * encrypt.format: the old AES scheme is only the header's crypt_method; LUKS
 * gets a volume header and slot 0's key material in clusters of their own
 * (after the L1 table, as QEMU places them), named by the crypto header
 * extension (offset, length).
 */
async function setUpEncryption(img: Qcow2Image, node: Qcow2FileNode, e: Qcow2EncryptionSetup): Promise<void> {
  if (e.format === 'aes') {
    img.header.cryptMethod = 1;
    return;
  }
  const volume = formatLuks(e.luks!, e.passphrase);
  const cs = img.clusterSize;
  const length = volume.payloadOffset;
  const clusters = Math.ceil(length / cs);
  const offset = await img.writeThrough(() => img.refcounts.allocate(clusters));
  // The whole area is written (zeroes where no slot is in use), as QEMU writes it.
  const area = new Uint8Array(clusters * cs);
  area.set(volume.header, 0);
  area.set(volume.material, volume.materialOffset);
  await node.write(offset, area);
  const ext = new Uint8Array(16);
  const dv = new DataView(ext.buffer);
  dv.setBigUint64(0, BigInt(offset));
  dv.setBigUint64(8, BigInt(length));
  img.header.cryptMethod = 2;
  img.header.unknownExtensions.push({ type: EXT_CRYPTO, data: ext });
}
