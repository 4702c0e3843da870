// What the LUKS sector modes (luks-crypto.ts) need of a block cipher that
// node:crypto lacks (Serpent, Twofish, CAST-128): the key schedule is made once
// per key, then whole runs of blocks are enciphered in place, ECB style, with
// no allocation per block (a disk request is thousands of blocks).

export interface BlockCipher {
  /** Bytes in a block: 16 (Serpent, Twofish) or 8 (CAST-128). */
  readonly blockSize: number;
  /** Enciphers data[start, end) in place, each block on its own; end - start is a multiple of blockSize. */
  encryptBlocks(data: Uint8Array, start?: number, end?: number): void;
  /** The inverse of encryptBlocks. */
  decryptBlocks(data: Uint8Array, start?: number, end?: number): void;
}

/** The little-endian 32-bit word at data[at] (as an int32). */
export function le32(data: Uint8Array, at: number): number {
  return data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16) | (data[at + 3]! << 24);
}

export function putLe32(data: Uint8Array, at: number, v: number): void {
  data[at] = v;
  data[at + 1] = v >>> 8;
  data[at + 2] = v >>> 16;
  data[at + 3] = v >>> 24;
}

/** The big-endian 32-bit word at data[at] (as an int32). */
export function be32(data: Uint8Array, at: number): number {
  return (data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!;
}

export function putBe32(data: Uint8Array, at: number, v: number): void {
  data[at] = v >>> 24;
  data[at + 1] = v >>> 16;
  data[at + 2] = v >>> 8;
  data[at + 3] = v;
}

/** Refuses a run that is not whole blocks (a bug in the caller, not bad data). */
export function checkRun(cipher: string, blockSize: number, start: number, end: number, length: number): void {
  if (start < 0 || end > length || start > end || (end - start) % blockSize !== 0) {
    throw new RangeError(`${cipher}: [${start}, ${end}) of ${length} bytes is not whole ${blockSize}-byte blocks`);
  }
}
