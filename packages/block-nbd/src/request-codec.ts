// Transmission-phase requests: the server's parser (28-byte header, then the
// WRITE payload streamed into one buffer) and the client's header encoder.
import { ByteQueue, readUint64, writeUint64 } from './byte-queue.js';
import { NBD_MAX_PAYLOAD, NBD_REQUEST_MAGIC, NbdCommand, REQUEST_HEADER_BYTES } from './constants.js';
import { NbdProtocolError } from './wire.js';

/** Payload memory: Node's Buffer skips the zero-fill we would overwrite anyway. */
export function allocPayload(n: number): Uint8Array {
  return typeof Buffer !== 'undefined' ? Buffer.allocUnsafe(n) : new Uint8Array(n);
}

/** Payload stores above this are not kept for reuse (an idle request should not pin 32 MiB). */
const KEEP_PAYLOAD_MAX = 4 << 20;

/** One parsed request; servers keep a small pool of these and refill them. */
export class NbdRequest {
  flags = 0;
  type = 0;
  /** The opaque 8-byte handle as two words, echoed back in the reply. */
  handleHi = 0;
  handleLo = 0;
  /** Infinity when the 64-bit offset exceeds 2^53 (always out of range). */
  offset = 0;
  length = 0;
  /** WRITE payload (exactly `length` bytes). */
  data: Uint8Array | null = null;
  /** A WRITE longer than the payload cap: its data was not read and the stream cannot be trusted. */
  oversized = false;
  /** Reused WRITE payload memory (when `reusePayload`), and the last view of it handed out. */
  private store: Uint8Array | null = null;
  private view: Uint8Array | null = null;

  /**
   * `reusePayload`: WRITE payloads go into memory this request keeps from
   * one use to the next (no allocation per WRITE of a similar size). Only
   * for owners that are done with `data` before the request is parsed into
   * again, as a server's request slots are.
   */
  constructor(readonly reusePayload = false) {}

  /** Exactly `n` bytes for a WRITE payload. */
  payload(n: number): Uint8Array {
    if (!this.reusePayload) return allocPayload(n);
    const store = this.store;
    if (store !== null && store.byteLength >= n && store.byteLength <= Math.max(n * 4, 65536)) {
      const view = this.view;
      if (view !== null && view.byteLength === n) return view;
      return (this.view = store.subarray(0, n));
    }
    // allocUnsafeSlow: own memory, never a slice of Node's shared 8 KiB pool that a kept store would pin.
    const size = Math.max(n, 4096);
    const fresh = typeof Buffer !== 'undefined' ? Buffer.allocUnsafeSlow(size) : new Uint8Array(size);
    this.store = n > KEEP_PAYLOAD_MAX ? null : fresh;
    return (this.view = fresh.subarray(0, n));
  }
}

const enum RequestState { Header, Payload, Poisoned }

/** Server side. `next` fills `req` and returns true when one whole request is there. */
export class NbdRequestParser {
  private state = RequestState.Header;
  private readonly header = new Uint8Array(REQUEST_HEADER_BYTES);
  private readonly view = new DataView(this.header.buffer);
  private filled = 0;
  private current: NbdRequest | null = null;

  constructor(private readonly maxPayload = NBD_MAX_PAYLOAD) {}

  /** A payload is half received: the caller must keep feeding the same request object. */
  get midPayload(): boolean {
    return this.state === RequestState.Payload;
  }

  /** Throws NbdProtocolError on a bad magic; after an oversized WRITE the parser refuses further input. */
  next(q: ByteQueue, req: NbdRequest): boolean {
    if (this.state === RequestState.Poisoned) throw new NbdProtocolError('Request stream is out of sync');
    if (this.state === RequestState.Header) {
      if (q.length < REQUEST_HEADER_BYTES) return false;
      q.read(this.header, 0, REQUEST_HEADER_BYTES);
      const v = this.view;
      if (v.getUint32(0) !== NBD_REQUEST_MAGIC) {
        this.state = RequestState.Poisoned;
        throw new NbdProtocolError(`invalid magic (got 0x${v.getUint32(0).toString(16)})`);
      }
      req.flags = v.getUint16(4);
      req.type = v.getUint16(6);
      req.handleHi = v.getUint32(8);
      req.handleLo = v.getUint32(12);
      req.offset = readUint64(v, 16);
      req.length = v.getUint32(24);
      req.data = null;
      req.oversized = false;
      if (req.type !== NbdCommand.WRITE) return true;
      if (req.length > this.maxPayload) {
        req.oversized = true;
        this.state = RequestState.Poisoned;
        return true;
      }
      req.data = req.payload(req.length);
      this.filled = 0;
      this.current = req;
      this.state = RequestState.Payload;
    }
    // Payload: copy what has arrived straight into the request's buffer.
    const cur = this.current!;
    const n = Math.min(q.length, cur.length - this.filled);
    if (n > 0) q.read(cur.data!, this.filled, n);
    this.filled += n;
    if (this.filled < cur.length) return false;
    this.current = null;
    this.state = RequestState.Header;
    return true;
  }
}

/** Client side: writes one request header into a preallocated 28-byte buffer. */
export function writeRequestHeader(
  view: DataView, flags: number, type: number, handleHi: number, handleLo: number, offset: number, length: number,
): void {
  view.setUint32(0, NBD_REQUEST_MAGIC);
  view.setUint16(4, flags);
  view.setUint16(6, type);
  view.setUint32(8, handleHi);
  view.setUint32(12, handleLo);
  writeUint64(view, 16, offset);
  view.setUint32(24, length);
}
