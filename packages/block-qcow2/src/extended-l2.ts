// Reading images with extended L2 entries (incompatible bit 4): 16-byte
// entries, the second 8 bytes a bitmap over 32 subclusters (bits 0..31
// allocated, 32..63 reads-as-zero). Read-only for now.
import { ClusterType, type Qcow2Extent } from './cluster-map.js';
import { OFFSET_MASK_HI, OFFSET_MASK_LO, OFLAG_COMPRESSED_HI } from './constants.js';
import type { Qcow2L2Table } from './l2-cache.js';

/** Subcluster type: alloc bit -> data, zero bit -> zeroes, neither -> backing; both is invalid. */
function subclusterType(allocBits: number, zeroBits: number, sc: number): ClusterType | -1 {
  const a = (allocBits >>> sc) & 1;
  const z = (zeroBits >>> sc) & 1;
  if (a && z) return -1;
  return a ? ClusterType.Normal : z ? ClusterType.ZeroPlain : ClusterType.Unallocated;
}

/**
 * Fills `ext` for the run at byte `inCluster` of entry `l2i` in `t`, at most
 * `maxBytes` long, walking subclusters and further entries of the table.
 * Returns false for an invalid entry (caller raises the corruption).
 */
export function lookupExtended(
  t: Qcow2L2Table, l2i: number, entries: number, inCluster: number, maxBytes: number, cs: number, ext: Qcow2Extent,
): boolean {
  const scs = cs / 32;
  const dv = t.dv;
  let i = l2i;
  let sc = Math.floor(inCluster / scs);
  let type: ClusterType | -1 = -1;
  let host = 0;
  let bytes = 0;
  const want = maxBytes;
  let expectHost = 0;
  let first = true;
  while (bytes < want && i < entries) {
    const hi = dv.getUint32(i * 16);
    const lo = dv.getUint32(i * 16 + 4);
    if ((hi & OFLAG_COMPRESSED_HI) !== 0) {
      if (!first) break;
      ext.type = ClusterType.Compressed;
      ext.entryHi = hi;
      ext.entryLo = lo;
      ext.host = 0;
      ext.bytes = Math.min(cs - inCluster, maxBytes);
      return true;
    }
    const base = (hi & OFFSET_MASK_HI) * 4294967296 + ((lo & OFFSET_MASK_LO) >>> 0);
    if (base % cs !== 0) {
      if (first) return false;
      break;
    }
    const zeroBits = dv.getUint32(i * 16 + 8);
    const allocBits = dv.getUint32(i * 16 + 12);
    for (; sc < 32 && bytes < want; sc++) {
      const st = subclusterType(allocBits, zeroBits, sc);
      if (st === -1 || (st === ClusterType.Normal && base === 0)) {
        if (first) return false;
        ext.bytes = bytes;
        return true;
      }
      const h = st === ClusterType.Normal ? base + sc * scs : 0;
      if (first) {
        type = st;
        host = h + (inCluster % scs);
        expectHost = h;
        first = false;
      } else if (st !== type || (st === ClusterType.Normal && h !== expectHost)) {
        ext.type = type as ClusterType;
        ext.host = host;
        ext.bytes = bytes;
        return true;
      }
      const chunk = bytes === 0 ? scs - (inCluster % scs) : scs;
      bytes += chunk;
      expectHost += scs;
    }
    sc = 0;
    i++;
  }
  ext.type = type as ClusterType;
  ext.host = host;
  ext.copied = false;
  ext.bytes = Math.min(bytes, want);
  return true;
}
