/** printf's `%#x` (QEMU's `%#" PRIx64`): the 0x prefix, except for zero, which prints as a bare 0. */
export function cHexAlt(n: number): string {
  return n === 0 ? '0' : `0x${n.toString(16)}`;
}
