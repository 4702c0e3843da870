// Reused I/O buffers: a benchmark loop of `write -P 0xab ...` must not
// allocate and fill a new buffer for every request.

/** Buffers up to this size are kept for reuse; bigger ones are one-offs. */
const KEEP_LIMIT = 16 << 20;

export class BufferCache {
  private readonly patterns = new Map<number, Uint8Array>();
  private scratchBuf = new Uint8Array(0);

  /** `len` bytes of `pattern`. Shared and never written to: use only as a write source or for comparison. */
  pattern(pattern: number, len: number): Uint8Array {
    const cached = this.patterns.get(pattern);
    if (cached && cached.length >= len) return cached.subarray(0, len);
    const buf = new Uint8Array(len).fill(pattern);
    if (len <= KEEP_LIMIT) this.patterns.set(pattern, buf);
    return buf;
  }

  /** A read target for a synchronous command (its contents are overwritten by the next one). */
  scratch(len: number): Uint8Array {
    if (this.scratchBuf.length >= len) return this.scratchBuf.subarray(0, len);
    const buf = new Uint8Array(len);
    if (len <= KEEP_LIMIT) this.scratchBuf = buf;
    return buf;
  }

  /** True when buf[start, start+len) is all `pattern`. */
  matches(buf: Uint8Array, start: number, len: number, pattern: number): boolean {
    const want = this.pattern(pattern, len);
    // Compare by range on a Buffer view kept for the (usually reused) scratch
    // ArrayBuffer: no new view per check in a `read -P` loop.
    if (buf.buffer !== this.viewOf) {
      this.viewOf = buf.buffer;
      this.view = Buffer.from(buf.buffer);
    }
    const from = buf.byteOffset + start;
    return this.view.compare(want, 0, len, from, from + len) === 0;
  }

  private viewOf: ArrayBufferLike | null = null;
  private view: Buffer = Buffer.alloc(0);
}
