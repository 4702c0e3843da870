// Reused I/O buffers: a benchmark loop of `write -P 0xab ...` must not
// allocate and fill a new buffer for every request. They are page-aligned, as
// qemu-io's qemu_io_alloc (qemu_blockalign) makes them: the kernel copies
// to and from a buffer 16 bytes past a page start about 2x slower (4K aliasing).
import { allocAlignedBuffer } from '@tsemu/block-core';

/** Buffers up to this size are kept for reuse; bigger ones are one-offs. */
const KEEP_LIMIT = 16 << 20;
const SCRATCH_UNIT = 64 << 10;

export class BufferCache {
  private readonly patterns = new Map<number, Uint8Array>();
  private scratchBuf = new Uint8Array(0);

  /** `len` bytes of `pattern`. Shared and never written to: use only as a write source or for comparison. */
  pattern(pattern: number, len: number): Uint8Array {
    const buf = this.patternAtLeast(pattern, len);
    return buf.length === len ? buf : buf.subarray(0, len);
  }

  /** A shared buffer of at least `len` bytes of `pattern` (no view cut to size). */
  private patternAtLeast(pattern: number, len: number): Uint8Array {
    const cached = this.patterns.get(pattern);
    if (cached && cached.length >= len) return cached;
    const buf = allocAlignedBuffer(len).fill(pattern);
    if (len <= KEEP_LIMIT) this.patterns.set(pattern, buf);
    return buf;
  }

  /** A read target for a synchronous command (its contents are overwritten by the next one). */
  scratch(len: number): Uint8Array {
    // A loop of same-sized reads gets the same view back: no allocation per command.
    if (len === this.scratchView.length) return this.scratchView;
    if (len > KEEP_LIMIT) return allocAlignedBuffer(len);
    // Aligned memory comes in 64 KiB units anyway: keep all of it.
    if (this.scratchBuf.length < len) this.scratchBuf = allocAlignedBuffer(Math.ceil(len / SCRATCH_UNIT) * SCRATCH_UNIT);
    this.scratchView = this.scratchBuf.subarray(0, len);
    return this.scratchView;
  }

  private scratchView = new Uint8Array(0);

  /** True when buf[start, start+len) is all `pattern`. */
  matches(buf: Uint8Array, start: number, len: number, pattern: number): boolean {
    const want = this.patternAtLeast(pattern, len);
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
