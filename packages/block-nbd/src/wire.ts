// Bounds-checked readers and writers for handshake-time messages (option
// payloads and replies). Not used on the data path. A reader never trusts a
// length field: every read checks what is really left.

const utf8 = new TextDecoder('utf-8', { fatal: false });
const encoder = new TextEncoder();

/** The peer broke the protocol; the connection cannot continue. */
export class NbdProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NbdProtocolError';
  }
}

/** A malformed option payload: the server answers NBD_REP_ERR_INVALID and carries on. */
export class NbdInvalidOption extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NbdInvalidOption';
  }
}

export class WireReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.byteLength - this.pos;
  }

  private need(n: number): void {
    if (n > this.remaining) throw new NbdInvalidOption(`payload too short: need ${n} more bytes, have ${this.remaining}`);
  }

  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): number {
    this.need(8);
    const hi = this.view.getUint32(this.pos);
    const lo = this.view.getUint32(this.pos + 4);
    this.pos += 8;
    return hi * 0x100000000 + lo;
  }

  bytesOf(n: number): Uint8Array {
    this.need(n);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A string of `n` bytes; `max` bounds what the protocol allows. */
  string(n: number, max = 4096): string {
    if (n > max) throw new NbdInvalidOption(`string of ${n} bytes is longer than ${max}`);
    return utf8.decode(this.bytesOf(n));
  }

  /** Whatever is left, as a string. */
  rest(max = 4096): string {
    return this.string(this.remaining, max);
  }

  end(): void {
    if (this.remaining !== 0) throw new NbdInvalidOption(`${this.remaining} unexpected trailing bytes`);
  }
}

export class WireWriter {
  private buf = new Uint8Array(64);
  private view = new DataView(this.buf.buffer);
  private pos = 0;

  private grow(n: number): void {
    if (this.pos + n <= this.buf.byteLength) return;
    let size = this.buf.byteLength * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u16(v: number): this {
    this.grow(2);
    this.view.setUint16(this.pos, v);
    this.pos += 2;
    return this;
  }

  u32(v: number): this {
    this.grow(4);
    this.view.setUint32(this.pos, v >>> 0);
    this.pos += 4;
    return this;
  }

  u64(v: number): this {
    this.grow(8);
    this.view.setUint32(this.pos, Math.floor(v / 0x100000000));
    this.view.setUint32(this.pos + 4, v >>> 0);
    this.pos += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.grow(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
    return this;
  }

  /** Raw UTF-8 bytes, no length prefix. */
  text(s: string): this {
    return this.bytes(encoder.encode(s));
  }

  /** u32 length + UTF-8 bytes. */
  string32(s: string): this {
    const b = encoder.encode(s);
    return this.u32(b.byteLength).bytes(b);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

export function utf8Length(s: string): number {
  return encoder.encode(s).byteLength;
}
