// Reading and writing one refcount entry of 1..64 bits inside a refcount block.
// Sub-byte widths pack the lowest-numbered entry into the least significant
// bits of a byte; 8..64-bit entries are big-endian (qcow2.txt).

export function getRefcount(block: Uint8Array, dv: DataView, order: number, i: number): number {
  switch (order) {
    case 0: return (block[i >>> 3]! >>> (i & 7)) & 1;
    case 1: return (block[i >>> 2]! >>> ((i & 3) << 1)) & 3;
    case 2: return (block[i >>> 1]! >>> ((i & 1) << 2)) & 15;
    case 3: return block[i]!;
    case 4: return dv.getUint16(i << 1);
    case 5: return dv.getUint32(i << 2);
    default: return dv.getUint32(i << 3) * 4294967296 + dv.getUint32((i << 3) + 4);
  }
}

export function setRefcount(block: Uint8Array, dv: DataView, order: number, i: number, value: number): void {
  switch (order) {
    case 0: {
      const s = i & 7;
      block[i >>> 3] = (block[i >>> 3]! & ~(1 << s)) | (value << s);
      return;
    }
    case 1: {
      const s = (i & 3) << 1;
      block[i >>> 2] = (block[i >>> 2]! & ~(3 << s)) | (value << s);
      return;
    }
    case 2: {
      const s = (i & 1) << 2;
      block[i >>> 1] = (block[i >>> 1]! & ~(15 << s)) | (value << s);
      return;
    }
    case 3: block[i] = value; return;
    case 4: dv.setUint16(i << 1, value); return;
    case 5: dv.setUint32(i << 2, value); return;
    default:
      dv.setUint32(i << 3, Math.floor(value / 4294967296));
      dv.setUint32((i << 3) + 4, value >>> 0);
  }
}

/**
 * Largest refcount the number-valued fast path handles: the entry's maximum,
 * or 2^53 - 1 for 64-bit entries. A 64-bit value above it comes back from
 * getRefcount rounded (still above the cap); the exact value is read and
 * changed with the BigInt helpers below, a path only corrupt or hand-made
 * images reach.
 */
export function maxRefcount(order: number): number {
  return order >= 6 ? Number.MAX_SAFE_INTEGER : 2 ** (2 ** order) - 1;
}

/** Byte span [start, end) that holds entries [first, last] (for writing back only what changed). */
export function entryByteSpan(order: number, first: number, last: number): [number, number] {
  if (order < 3) {
    const perByte = 8 >>> order;
    return [Math.floor(first / perByte), Math.floor(last / perByte) + 1];
  }
  const bytes = 1 << (order - 3);
  return [first * bytes, (last + 1) * bytes];
}

/** 2^64 - 1, the largest 64-bit refcount. */
export const MAX_REFCOUNT_64 = 0xffffffffffffffffn;

/** A 64-bit entry exactly (refcount_bits=64 only). */
export function getRefcount64(dv: DataView, i: number): bigint {
  return dv.getBigUint64(i << 3);
}

export function setRefcount64(dv: DataView, i: number, value: bigint): void {
  dv.setBigUint64(i << 3, value);
}

/** The refcount as qemu-img prints it (%PRIu64): exact also above 2^53 in 64-bit entries. */
export function refcountText(dv: DataView, order: number, i: number, value: number): string {
  return value > Number.MAX_SAFE_INTEGER && order >= 6 ? getRefcount64(dv, i).toString() : String(value);
}
