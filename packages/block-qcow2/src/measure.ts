// qemu-img measure for qcow2 output: metadata of a fully allocated image by
// QEMU's method (fixed point for refcount metadata, which counts itself), and
// the required size given the bytes an input image has allocated.
import { BlockError, type SecretLookup } from '@tsemu/block-core';
import { parseCreateOptions } from './create-options.js';
import { MAX_L1_BYTES } from './constants.js';
import { refcountBlocksFor } from './refcount-table.js';

export interface Qcow2Measure {
  required: number;
  fullyAllocated: number;
  /** The measured image's qcow2 version (compat=0.10: 2): only v3 images store persistent bitmaps. */
  version: 2 | 3;
}

/** Refcount table + blocks needed to count `clusters` clusters and themselves. */
export function refcountMetadataSize(clusters: number, clusterSize: number, refcountOrder: number): number {
  const blocks = refcountBlocksFor(clusters, clusterSize, refcountOrder);
  return (blocks + Math.ceil(blocks / (clusterSize / 8))) * clusterSize;
}

/** Size of an image with every cluster allocated (header, L1, L2, refcounts, data). */
export function preallocatedSize(totalSize: number, clusterSize: number, refcountOrder: number, extendedL2 = false): number {
  const aligned = Math.ceil(totalSize / clusterSize) * clusterSize;
  const l2eSize = extendedL2 ? 16 : 8;
  let meta = clusterSize;
  let nl2e = aligned / clusterSize;
  nl2e = Math.ceil(nl2e / (clusterSize / l2eSize)) * (clusterSize / l2eSize);
  meta += nl2e * l2eSize;
  let nl1e = (nl2e * l2eSize) / clusterSize;
  nl1e = Math.ceil(nl1e / (clusterSize / 8)) * (clusterSize / 8);
  meta += nl1e * 8;
  meta += refcountMetadataSize((meta + aligned) / clusterSize, clusterSize, refcountOrder);
  return meta + aligned;
}

/**
 * `allocated` lists the input's allocated extents as [offset, length] (omit
 * for --size): each counts the clusters it touches, as QEMU does.
 */
export function measureQcow2(
  size: number, options: Record<string, string>, allocated?: ReadonlyArray<readonly [number, number]>, secret?: SecretLookup,
): Qcow2Measure {
  const extendedL2 = options.extended_l2 === 'on';
  const opts = { ...options };
  delete opts.extended_l2; // measuring extended L2 layouts is fine even though creating them is not
  // measure checks preallocation after the layout (and with other words than create).
  const prealloc = opts.preallocation ?? 'off';
  delete opts.preallocation;
  const p = parseCreateOptions(opts, size, true, secret);
  const cs = 2 ** p.clusterBits;
  if (extendedL2 && cs < 16384) throw new BlockError('EINVAL', 'Extended L2 entries are only supported with cluster sizes of at least 16384 bytes');
  if (!['off', 'metadata', 'falloc', 'full'].includes(prealloc)) throw new BlockError('EINVAL', `invalid parameter value: ${prealloc}`);
  const virtualSize = Math.ceil(size / cs) * cs;
  // The L1 table those L2 tables need must fit QEMU's 32 MiB limit.
  const l2Tables = Math.ceil(virtualSize / cs / (cs / (extendedL2 ? 16 : 8)));
  if (l2Tables * 8 > MAX_L1_BYTES) throw new BlockError('EFBIG', 'The image size is too large (try using a larger cluster size)');
  let data = 0;
  for (const [off, len] of allocated ?? []) {
    if (len <= 0) continue;
    data += Math.ceil((off + len) / cs) * cs - Math.floor(off / cs) * cs;
  }
  const fullyAllocated = preallocatedSize(virtualSize, cs, p.refcountOrder, extendedL2) + p.encryptionBytes;
  // falloc and full allocate every data cluster up front.
  const required = prealloc === 'falloc' || prealloc === 'full' ? fullyAllocated : fullyAllocated - virtualSize + data;
  return { required, fullyAllocated, version: p.version };
}
