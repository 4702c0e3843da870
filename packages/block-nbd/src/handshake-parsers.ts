// State machines for the handshake phase, one per direction. Each `next`
// consumes only whole messages (or skips oversized ones without buffering
// them) and returns undefined while more bytes are needed.
import { ByteQueue, readUint64 } from './byte-queue.js';
import {
  GREETING_BYTES, NBD_FLAG_FIXED_NEWSTYLE, NBD_INIT_MAGIC_HI, NBD_INIT_MAGIC_LO, NBD_MAX_OPTION_PAYLOAD,
  NBD_OLDSTYLE_MAGIC_HI, NBD_OLDSTYLE_MAGIC_LO, NBD_OPTS_MAGIC_HI, NBD_OPTS_MAGIC_LO, NBD_REP_MAGIC_HI,
  NBD_REP_MAGIC_LO, NBD_MAX_STRING, NbdOption, OPTION_HEADER_BYTES, OPTION_REPLY_HEADER_BYTES,
} from './constants.js';
import { NbdProtocolError } from './wire.js';

export type NbdOptionEvent =
  | { kind: 'option'; option: number; data: Uint8Array }
  /** The payload was larger than we buffer; it was skipped. */
  | { kind: 'too-big'; option: number; length: number };

const enum OptionState { Header, Data, Skip }

/** Server side: the client's option requests (after its 4-byte flags, read with readClientFlags). */
export class NbdOptionParser {
  private state = OptionState.Header;
  private readonly header = new Uint8Array(OPTION_HEADER_BYTES);
  private readonly view = new DataView(this.header.buffer);
  private option = 0;
  private length = 0;
  private skipped = 0;

  constructor(private readonly maxPayload = NBD_MAX_OPTION_PAYLOAD) {}

  /** The next 8 queued bytes are the option magic (not consumed). */
  private magicAt(q: ByteQueue): boolean {
    q.peek(this.header, 0, 8);
    return this.view.getUint32(0) === NBD_OPTS_MAGIC_HI && this.view.getUint32(4) === NBD_OPTS_MAGIC_LO;
  }

  /**
   * What the client left unfinished when its stream ended with `q` unread:
   * qemu-nbd 7.2's words for the read that hit end-of-file.
   */
  eofReason(q: ByteQueue): string {
    const eof = 'Unexpected end-of-file before all data were read';
    if (this.state !== OptionState.Header) return this.option === NbdOption.EXPORT_NAME && this.state === OptionState.Data ? `Failed to read export name: ${eof}` : eof;
    if (q.length < 8) return `Failed to read opts magic: ${eof}`;
    if (q.length < 12) return `Failed to read option: ${eof}`;
    return `Failed to read option length: ${eof}`;
  }

  /** Throws NbdProtocolError on a bad magic (the server must then drop the client). */
  next(q: ByteQueue): NbdOptionEvent | undefined {
    for (;;) {
      switch (this.state) {
        case OptionState.Header: {
          // The magic is judged as soon as it is complete, as qemu-nbd does.
          if (q.length >= 8 && !this.magicAt(q)) throw new NbdProtocolError('Bad magic received');
          if (q.length < OPTION_HEADER_BYTES) return undefined;
          q.read(this.header, 0, OPTION_HEADER_BYTES);
          this.option = this.view.getUint32(8);
          this.length = this.view.getUint32(12);
          if (this.option === NbdOption.EXPORT_NAME && this.length > NBD_MAX_STRING) throw new NbdProtocolError('Bad length received');
          if (this.length > this.maxPayload) {
            this.state = OptionState.Skip;
            this.skipped = 0;
          } else {
            this.state = OptionState.Data;
          }
          continue;
        }
        case OptionState.Data: {
          if (q.length < this.length) return undefined;
          const data = new Uint8Array(this.length);
          q.read(data, 0, this.length);
          this.state = OptionState.Header;
          return { kind: 'option', option: this.option, data };
        }
        case OptionState.Skip: {
          const n = Math.min(q.length, this.length - this.skipped);
          q.skip(n);
          this.skipped += n;
          if (this.skipped < this.length) return undefined;
          this.state = OptionState.Header;
          return { kind: 'too-big', option: this.option, length: this.length };
        }
      }
    }
  }
}

/** Server side: the 32-bit client flags that follow the greeting. */
export function readClientFlags(q: ByteQueue): number | undefined {
  if (q.length < 4) return undefined;
  const b = new Uint8Array(4);
  q.read(b, 0, 4);
  return new DataView(b.buffer).getUint32(0);
}

/** Client side: the 18-byte newstyle greeting; returns the handshake flags. */
export function readGreeting(q: ByteQueue): number | undefined {
  if (q.length < GREETING_BYTES) return undefined;
  const b = new Uint8Array(GREETING_BYTES);
  q.read(b, 0, GREETING_BYTES);
  const v = new DataView(b.buffer);
  if (v.getUint32(0) !== NBD_INIT_MAGIC_HI || v.getUint32(4) !== NBD_INIT_MAGIC_LO) {
    throw new NbdProtocolError('Bad initial magic received');
  }
  const hi = v.getUint32(8);
  const lo = v.getUint32(12);
  if (hi === NBD_OLDSTYLE_MAGIC_HI && lo === NBD_OLDSTYLE_MAGIC_LO) {
    throw new NbdProtocolError('Server is using the oldstyle protocol, which is not supported');
  }
  if (hi !== NBD_OPTS_MAGIC_HI || lo !== NBD_OPTS_MAGIC_LO) throw new NbdProtocolError('Bad server magic received');
  const flags = v.getUint16(16);
  if ((flags & NBD_FLAG_FIXED_NEWSTYLE) === 0) throw new NbdProtocolError('Server does not support fixed newstyle negotiation');
  return flags;
}

export interface NbdOptionReplyMessage {
  option: number;
  type: number;
  data: Uint8Array;
}

/** Client side: option replies. */
export class NbdOptionReplyParser {
  private readonly header = new Uint8Array(OPTION_REPLY_HEADER_BYTES);
  private readonly view = new DataView(this.header.buffer);
  private inHeader = true;
  private option = 0;
  private type = 0;
  private length = 0;

  constructor(private readonly maxPayload = NBD_MAX_OPTION_PAYLOAD) {}

  next(q: ByteQueue): NbdOptionReplyMessage | undefined {
    if (this.inHeader) {
      if (q.length < OPTION_REPLY_HEADER_BYTES) return undefined;
      q.read(this.header, 0, OPTION_REPLY_HEADER_BYTES);
      if (this.view.getUint32(0) !== NBD_REP_MAGIC_HI || this.view.getUint32(4) !== NBD_REP_MAGIC_LO) {
        throw new NbdProtocolError('Unexpected option reply magic');
      }
      this.option = this.view.getUint32(8);
      this.type = this.view.getUint32(12);
      this.length = this.view.getUint32(16);
      if (this.length > this.maxPayload) throw new NbdProtocolError(`Option reply of ${this.length} bytes is too large`);
      this.inHeader = false;
    }
    if (q.length < this.length) return undefined;
    const data = new Uint8Array(this.length);
    q.read(data, 0, this.length);
    this.inHeader = true;
    return { option: this.option, type: this.type, data };
  }
}

/** Client side: the reply to NbdOption.EXPORT_NAME (size, flags, maybe 124 zero bytes). */
export function readExportNameReply(q: ByteQueue, noZeroes: boolean): { size: number; flags: number } | undefined {
  const n = noZeroes ? 10 : 134;
  if (q.length < n) return undefined;
  const b = new Uint8Array(n);
  q.read(b, 0, n);
  const v = new DataView(b.buffer);
  return { size: readUint64(v, 0), flags: v.getUint16(8) };
}
