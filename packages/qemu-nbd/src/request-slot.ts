// A server-side request in flight. Each connection owns a fixed pool of
// these (QEMU's MAX_NBD_REQUESTS = 16): the parsed request, a preallocated
// reply header area, and a flush callback bound once, so the hot path
// allocates nothing but the data buffers themselves. READ data is read
// straight into a reply buffer with room for the reply header in front, so
// header and data leave in one write, with no copy and no writev.
import { NbdRequest } from '@tsemu/block-nbd';

/** Largest reply prefix we build: structured header (20) + block-status context (4) + one descriptor (8), or an error chunk prefix. */
export const REPLY_HEADER_BYTES = 64;
/**
 * Where READ data starts in the reply buffer: after a structured OFFSET_DATA
 * header (20 + 8 bytes); a simple reply header (16 bytes) sits at 12.
 */
export const DATA_AT = 28;
export const SIMPLE_AT = DATA_AT - 16;
/** Reply buffers above this are dropped when the slot frees, so idle clients do not pin 16 x 32 MiB. */
const KEEP_MAX = 4 << 20;
/** Smallest reply buffer: small reads share one size class and keep reusing it. */
const MIN_CAPACITY = DATA_AT + 4096;

export class RequestSlot {
  readonly req = new NbdRequest(true);
  readonly header = new Uint8Array(REPLY_HEADER_BYTES);
  readonly view = new DataView(this.header.buffer);
  /** The header area as a simple reply (16 bytes) and a structured chunk header without payload (20). */
  readonly header16 = this.header.subarray(0, 16);
  readonly header20 = this.header.subarray(0, 20);
  /** Reply buffer for READ: header room, then data (reused when the next read fits). */
  reply: Buffer | null = null;
  /** Views of `reply` at 0 (structured header) and at SIMPLE_AT (simple header). */
  replyView: DataView | null = null;
  simpleView: DataView | null = null;
  /** The last readView's data area and the whole reply around it (header + data), kept while `n` repeats. */
  private viewN = -1;
  data: Buffer | null = null;
  structuredReply: Buffer | null = null;
  simpleReply: Buffer | null = null;
  /** READ bytes this request counts against the connection's reply budget. */
  charged = 0;
  /** Scratch for block-status answers (run end, flags). */
  readonly status = new Float64Array(2);
  /** Called when the reply's last byte has left the socket buffer (the buffers may be reused). */
  readonly onFlushed: () => void;

  constructor(release: (slot: RequestSlot) => void) {
    this.onFlushed = () => release(this);
  }

  /** The data area for an `n`-byte READ, reusing the previous reply buffer when it fits without waste. */
  readView(n: number): Buffer {
    const need = DATA_AT + n;
    let buf = this.reply;
    if (n === this.viewN && buf !== null) return this.data!;
    if (buf === null || buf.byteLength < need || buf.byteLength > Math.max(need * 4, MIN_CAPACITY)) {
      // allocUnsafeSlow: an own ArrayBuffer, not a slice of Node's shared pool kept alive by us.
      buf = Buffer.allocUnsafeSlow(Math.max(need, MIN_CAPACITY));
      this.reply = buf;
      this.replyView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      this.simpleView = new DataView(buf.buffer, buf.byteOffset + SIMPLE_AT, buf.byteLength - SIMPLE_AT);
    }
    this.viewN = n;
    this.structuredReply = buf.subarray(0, need);
    this.simpleReply = buf.subarray(SIMPLE_AT, need);
    return (this.data = buf.subarray(DATA_AT, need));
  }

  /** The slot is free again: forget what a later request should not inherit. */
  reset(): void {
    this.req.data = null;
    if (this.reply !== null && this.reply.byteLength > KEEP_MAX) {
      this.reply = null;
      this.viewN = -1;
      this.data = this.structuredReply = this.simpleReply = null;
      this.replyView = null;
      this.simpleView = null;
    }
  }
}
