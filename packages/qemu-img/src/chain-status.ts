// Block status of a whole backing chain (QEMU's bdrv_block_status_above):
// the first layer that allocates a range answers for it.
import type { BlockBackend, BlockNode, BlockStatus } from '@tsemu/block-core';

export interface ChainStatus extends BlockStatus {
  /** 0 = the top image, 1 = its backing file, ... */
  depth: number;
}

export async function chainStatus(blk: BlockBackend, offset: number, length: number): Promise<ChainStatus> {
  let node: BlockNode = blk.root;
  let depth = 0;
  let status = await blk.blockStatus(offset, length);
  while (!status.allocated && node.backing) {
    node = node.backing;
    depth++;
    const limit = Math.min(length, status.length);
    // Past the end of a shorter backing file everything reads as zeroes.
    if (offset >= (await node.getLength())) return { length: limit, data: false, zero: true, allocated: false, depth };
    status = await node.blockStatus(offset, limit);
  }
  return { ...status, length: Math.max(1, Math.min(status.length, length)), depth };
}

/** [offset, length] extents holding data anywhere in the chain, widened to `granule` and merged. */
export async function allocatedExtents(blk: BlockBackend, size: number, granule: number): Promise<Array<[number, number]>> {
  const out: Array<[number, number]> = [];
  let offset = 0;
  while (offset < size) {
    const st = await chainStatus(blk, offset, size - offset);
    if (st.data && !st.zero) {
      const start = Math.floor(offset / granule) * granule;
      const end = Math.ceil((offset + st.length) / granule) * granule;
      const last = out[out.length - 1];
      if (last && last[0] + last[1] >= start) last[1] = Math.max(last[1], end - last[0]);
      else out.push([start, end - start]);
    }
    offset += st.length;
  }
  return out;
}

/**
 * Whether [offset, offset+length) is allocated in a layer above `base`
 * (QEMU's bdrv_is_allocated_above); `zero` when that layer reads as zeroes.
 */
export async function allocatedAbove(
  top: BlockNode, base: BlockNode | undefined, offset: number, length: number,
): Promise<{ allocated: boolean; zero: boolean; length: number }> {
  let n = length;
  for (let node: BlockNode | undefined = top; node && node !== base; node = node.backing) {
    if (offset >= (await node.getLength())) continue; // a shorter layer allocates nothing past its end
    const st = await node.blockStatus(offset, n);
    const len = Math.max(1, Math.min(st.length, n));
    if (st.allocated) return { allocated: true, zero: st.zero && !st.data, length: len };
    n = len;
  }
  return { allocated: false, zero: false, length: n };
}
