// A FIFO of received socket chunks. Parsers copy fixed-size headers out into
// their own preallocated scratch buffers and stream payloads straight into
// their destinations, so nothing is concatenated and partial reads are the
// normal case, not a special one.

export class ByteQueue {
  private chunks: Uint8Array[] = [];
  private head = 0;
  /** Read position inside chunks[head]. */
  private offset = 0;
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.byteLength;
  }

  /** Copies `n` bytes (n <= length) into `dest` at `destOffset` and consumes them. */
  read(dest: Uint8Array, destOffset: number, n: number): void {
    let pos = destOffset;
    let want = n;
    while (want > 0) {
      const chunk = this.chunks[this.head]!;
      const avail = chunk.byteLength - this.offset;
      const take = avail < want ? avail : want;
      dest.set(take === chunk.byteLength ? chunk : chunk.subarray(this.offset, this.offset + take), pos);
      pos += take;
      want -= take;
      this.advance(take, avail);
    }
    this.size -= n;
  }

  /** Drops `n` bytes (n <= length) without copying them. */
  skip(n: number): void {
    let want = n;
    while (want > 0) {
      const avail = this.chunks[this.head]!.byteLength - this.offset;
      const take = avail < want ? avail : want;
      want -= take;
      this.advance(take, avail);
    }
    this.size -= n;
  }

  /** Copies the first `n` bytes (n <= length) into `dest` at `destOffset` without consuming them. */
  peek(dest: Uint8Array, destOffset: number, n: number): void {
    let h = this.head;
    let o = this.offset;
    for (let i = 0; i < n; i++) {
      while (o >= this.chunks[h]!.byteLength) {
        h++;
        o = 0;
      }
      dest[destOffset + i] = this.chunks[h]![o++]!;
    }
  }

  /** The 32-bit big-endian word at the read position, without consuming it (length >= 4). */
  peekUint32(): number {
    const chunk = this.chunks[this.head]!;
    if (chunk.byteLength - this.offset >= 4) {
      const o = this.offset;
      return ((chunk[o]! << 24) | (chunk[o + 1]! << 16) | (chunk[o + 2]! << 8) | chunk[o + 3]!) >>> 0;
    }
    let value = 0;
    let h = this.head;
    let o = this.offset;
    for (let i = 0; i < 4; i++) {
      while (o >= this.chunks[h]!.byteLength) {
        h++;
        o = 0;
      }
      value = value * 256 + this.chunks[h]![o++]!;
    }
    return value;
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.offset = 0;
    this.size = 0;
  }

  private advance(take: number, avail: number): void {
    if (take === avail) {
      this.chunks[this.head] = EMPTY; // let the chunk be collected
      this.head++;
      this.offset = 0;
      // Compact occasionally so the array does not grow forever.
      if (this.head >= 64 && this.head * 2 >= this.chunks.length) {
        this.chunks = this.chunks.slice(this.head);
        this.head = 0;
      }
    } else {
      this.offset += take;
    }
  }
}

const EMPTY = new Uint8Array(0);

/** Reads a 64-bit big-endian unsigned value as a Number; values above 2^53 come back as Infinity (never valid). */
export function readUint64(view: DataView, at: number): number {
  const hi = view.getUint32(at);
  const lo = view.getUint32(at + 4);
  return hi >= 0x200000 ? Infinity : hi * 0x100000000 + lo;
}

export function writeUint64(view: DataView, at: number, value: number): void {
  view.setUint32(at, Math.floor(value / 0x100000000));
  view.setUint32(at + 4, value >>> 0);
}
