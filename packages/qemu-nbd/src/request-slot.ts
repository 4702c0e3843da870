// A server-side request in flight. Each connection owns a fixed pool of
// these (QEMU's MAX_NBD_REQUESTS = 16): the parsed request, a preallocated
// reply header area, and a flush callback bound once, so the hot path
// allocates nothing but the data buffers themselves.
import { NbdRequest } from '@tsemu/block-nbd';

/** Largest reply prefix we build: structured header (20) + block-status context (4) + one descriptor (8), or an error chunk prefix. */
export const REPLY_HEADER_BYTES = 64;

export class RequestSlot {
  readonly req = new NbdRequest();
  readonly header = new Uint8Array(REPLY_HEADER_BYTES);
  readonly view = new DataView(this.header.buffer);
  /** Read data (reused when the next read fits). */
  readBuffer: Uint8Array | null = null;
  /** Called when the reply's last byte has left the socket buffer (the header may be reused). */
  readonly onFlushed: () => void;

  constructor(release: (slot: RequestSlot) => void) {
    this.onFlushed = () => release(this);
  }

  /** A read buffer of exactly `n` bytes, reusing the previous one when large enough. */
  readView(n: number): Uint8Array {
    const buf = this.readBuffer;
    if (buf !== null && buf.byteLength >= n && buf.byteLength <= Math.max(n * 4, 65536)) return buf.subarray(0, n);
    const fresh = typeof Buffer !== 'undefined' ? Buffer.allocUnsafe(n) : new Uint8Array(n);
    this.readBuffer = fresh;
    return fresh;
  }
}
