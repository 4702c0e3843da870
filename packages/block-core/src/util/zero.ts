// Zero detection for detect-zeroes and convert -S, a 32-bit word at a time.

/** True when every byte of `buf` is zero. */
export function isAllZero(buf: Uint8Array): boolean {
  const len = buf.byteLength;
  let i = 0;
  // Head bytes up to 4-byte alignment of the underlying memory offset.
  const headEnd = Math.min(len, (4 - (buf.byteOffset & 3)) & 3);
  for (; i < headEnd; i++) if (buf[i] !== 0) return false;
  const words = (len - i) >>> 2;
  if (words > 0) {
    const view = new Int32Array(buf.buffer, buf.byteOffset + i, words);
    // OR eight words at a time: one branch per 32 bytes.
    let w = 0;
    for (; w + 8 <= words; w += 8) {
      if ((view[w] | view[w + 1] | view[w + 2] | view[w + 3] | view[w + 4] | view[w + 5] | view[w + 6] | view[w + 7]) !== 0) return false;
    }
    for (; w < words; w++) if (view[w] !== 0) return false;
    i += words * 4;
  }
  for (; i < len; i++) if (buf[i] !== 0) return false;
  return true;
}
