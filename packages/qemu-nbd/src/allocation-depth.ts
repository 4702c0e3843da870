// The qemu:allocation-depth metadata context (qemu-nbd -A): for each extent,
// 0 when no layer of the backing chain allocates it, 1 when the exported
// node does, 2 for its backing file, and so on. As in qemu-nbd, a range past
// the end of a shorter backing file counts as allocated (as zeroes) by that
// backing file.
import type { BlockBackend, BlockNode } from '@tsemu/block-core';

/**
 * The depth at `offset` and how far it holds (at most `length` bytes), into
 * answer[0] (end offset) and answer[1] (depth); no allocation per call.
 */
export async function allocationDepthAt(backend: BlockBackend, offset: number, length: number, answer: Float64Array): Promise<void> {
  let n = length;
  let depth = 1;
  for (let node: BlockNode | undefined = backend.root; node; node = node.backing, depth++) {
    const size = depth === 1 ? offset + length : await node.getLength();
    if (offset >= size) break; // past a shorter backing file's end: it supplies zeroes
    const st = await node.blockStatus(offset, Math.min(n, size - offset));
    if (st.length > 0 && st.length < n) n = st.length;
    if (st.allocated) break;
    if (!node.backing) {
      depth = 0;
      break;
    }
  }
  answer[0] = offset + n;
  answer[1] = depth;
}
