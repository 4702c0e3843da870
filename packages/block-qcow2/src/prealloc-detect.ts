// Metadata preallocation detection, as QEMU's qcow2 driver decides whether
// block status should also ask the host file: an image whose refcounts claim
// clearly more clusters than the file really has allocated on disk (created
// with preallocation=metadata, or with its data clusters punched) holds data
// clusters whose host ranges are holes. Only then do those ranges report
// "zero"; otherwise a data cluster is data even where the host file has a
// hole (qemu-img map, convert and compare all see it that way).
import type { BlockNode } from '@tsemu/block-core';
import type { Qcow2Image } from './image.js';
import { getRefcount } from './refcount-codec.js';

/** True when more clusters are referenced than the file's real allocation explains (with ~11% or 2 clusters of slack). */
export async function detectMetadataPreallocation(img: Qcow2Image, file: BlockNode): Promise<boolean> {
  const fileLength = await file.getLength();
  const allocated = await file.allocatedFileSize();
  if (allocated === undefined) return false;
  const realClusters = Math.floor(allocated / img.clusterSize);
  const threshold = Math.max(Math.floor((realClusters * 10) / 9), realClusters + 2);
  const endCluster = Math.ceil(fileLength / img.clusterSize);
  // At most endCluster clusters can be referenced: a file that is not sparse
  // (the usual case) is answered without reading a refcount block.
  if (endCluster <= threshold) return false;
  const rt = img.refcounts;
  const per = rt.entriesPerBlock;
  const order = img.header.refcountOrder;
  let referenced = 0;
  // Stops as soon as the answer is known; one await per refcount block, not per cluster.
  for (let base = 0; base < endCluster && referenced <= threshold; base += per) {
    const blk = await rt.blockData(base / per);
    if (blk === null) continue;
    const n = Math.min(per, endCluster - base);
    for (let i = 0; i < n && referenced <= threshold; i++) {
      if (getRefcount(blk.data, blk.dv, order, i) !== 0) referenced++;
    }
  }
  return referenced > threshold;
}
