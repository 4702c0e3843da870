// Transmission-phase replies: the server's header encoders (into
// preallocated buffers) and the client's NbdReplyParser, which streams READ
// data straight into the waiting request's buffers and folds structured
// chunks (data, hole, block status, error) into it.
import { ByteQueue, readUint64 } from './byte-queue.js';
import {
  NBD_MAX_CHUNK_PAYLOAD, NBD_MAX_PAYLOAD, NBD_REPLY_FLAG_DONE, NBD_SIMPLE_REPLY_MAGIC, NBD_STRUCTURED_REPLY_MAGIC,
  NbdChunk, NbdCommand, SIMPLE_REPLY_BYTES, STRUCTURED_REPLY_BYTES, isChunkError,
} from './constants.js';
import { NbdProtocolError } from './wire.js';

export function writeSimpleReply(view: DataView, error: number, handleHi: number, handleLo: number): void {
  view.setUint32(0, NBD_SIMPLE_REPLY_MAGIC);
  view.setUint32(4, error);
  view.setUint32(8, handleHi);
  view.setUint32(12, handleLo);
}

export function writeStructuredHeader(
  view: DataView, at: number, flags: number, type: number, handleHi: number, handleLo: number, length: number,
): void {
  view.setUint32(at, NBD_STRUCTURED_REPLY_MAGIC);
  view.setUint16(at + 4, flags);
  view.setUint16(at + 6, type);
  view.setUint32(at + 8, handleHi);
  view.setUint32(at + 12, handleLo);
  view.setUint32(at + 16, length);
}

/** What the client keeps per request in flight; the parser fills it in. */
export interface NbdInflight {
  type: number;
  offset: number;
  length: number;
  /** READ destination (exactly `length` bytes). */
  iov: Uint8Array[] | null;
  /** NBD error number (0 = none yet) and the server's message, if any. */
  error: number;
  errorMessage: string;
  /** BLOCK_STATUS: the first descriptor for `statusContext` (length 0 = none received). */
  statusContext: number;
  statusLength: number;
  statusFlags: number;
}

const enum ReplyState { Header, SimpleData, DataPrefix, DataStream, Buffered, Skip }

export class NbdReplyParser {
  private state = ReplyState.Header;
  private readonly header = new Uint8Array(STRUCTURED_REPLY_BYTES);
  private readonly view = new DataView(this.header.buffer);
  private scratch = new Uint8Array(64);
  private inflight: NbdInflight | null = null;
  private chunkFlags = 0;
  private chunkType = 0;
  private remaining = 0;
  /** Position inside the request's buffer while streaming data. */
  private pos = 0;
  /** Structured replies were negotiated (the only time the server may send them). */
  structured = false;

  /** `lookup` finds the request a handle names; undefined is a protocol error. */
  constructor(private readonly lookup: (handleHi: number, handleLo: number) => NbdInflight | undefined) {}

  /**
   * Consumes replies; returns the request a finished reply completes, or
   * undefined when more bytes are needed. Throws NbdProtocolError when the
   * server breaks the protocol (the connection is then unusable).
   */
  next(q: ByteQueue): NbdInflight | undefined {
    for (;;) {
      switch (this.state) {
        case ReplyState.Header: {
          if (q.length < 4) return undefined;
          const magic = q.peekUint32();
          if (magic === NBD_SIMPLE_REPLY_MAGIC) {
            if (q.length < SIMPLE_REPLY_BYTES) return undefined;
            q.read(this.header, 0, SIMPLE_REPLY_BYTES);
            const req = this.find(this.view.getUint32(8), this.view.getUint32(12));
            const error = this.view.getUint32(4);
            if (error !== 0) {
              req.error = error;
              return req;
            }
            if (req.type !== NbdCommand.READ || req.length === 0) return req;
            this.inflight = req;
            this.pos = 0;
            this.state = ReplyState.SimpleData;
            continue;
          }
          if (magic !== NBD_STRUCTURED_REPLY_MAGIC) throw new NbdProtocolError(`invalid reply magic 0x${magic.toString(16)}`);
          if (!this.structured) throw new NbdProtocolError('structured reply without negotiation');
          if (q.length < STRUCTURED_REPLY_BYTES) return undefined;
          q.read(this.header, 0, STRUCTURED_REPLY_BYTES);
          const v = this.view;
          this.chunkFlags = v.getUint16(4);
          this.chunkType = v.getUint16(6);
          const req = this.find(v.getUint32(8), v.getUint32(12));
          this.remaining = v.getUint32(16);
          this.inflight = req;
          const done = this.startChunk(req);
          if (done) return done;
          continue;
        }
        case ReplyState.SimpleData: {
          const req = this.inflight!;
          const n = Math.min(q.length, req.length - this.pos);
          if (n > 0) this.pos = copyQueueToIov(q, req.iov!, this.pos, n);
          if (this.pos < req.length) return undefined;
          this.state = ReplyState.Header;
          this.inflight = null;
          return req;
        }
        case ReplyState.DataPrefix: {
          if (q.length < 8) return undefined;
          q.read(this.scratch, 0, 8);
          const req = this.inflight!;
          const at = readUint64(new DataView(this.scratch.buffer, 0, 8), 0);
          const n = this.remaining - 8;
          if (at < req.offset || at - req.offset + n > req.length) {
            throw new NbdProtocolError('server sent data outside the requested range');
          }
          this.pos = at - req.offset;
          this.remaining = n;
          this.state = ReplyState.DataStream;
          continue;
        }
        case ReplyState.DataStream: {
          const n = Math.min(q.length, this.remaining);
          if (n > 0) this.pos = copyQueueToIov(q, this.inflight!.iov!, this.pos, n);
          this.remaining -= n;
          if (this.remaining > 0) return undefined;
          const done = this.endChunk();
          if (done) return done;
          continue;
        }
        case ReplyState.Buffered: {
          if (q.length < this.remaining) return undefined;
          q.read(this.scratch, 0, this.remaining);
          this.applyBuffered(this.inflight!, this.scratch.subarray(0, this.remaining));
          const done = this.endChunk();
          if (done) return done;
          continue;
        }
        case ReplyState.Skip: {
          const n = Math.min(q.length, this.remaining);
          q.skip(n);
          this.remaining -= n;
          if (this.remaining > 0) return undefined;
          const done = this.endChunk();
          if (done) return done;
          continue;
        }
      }
    }
  }

  private find(hi: number, lo: number): NbdInflight {
    const req = this.lookup(hi, lo);
    if (!req) throw new NbdProtocolError(`reply for unknown handle ${hi}:${lo}`);
    return req;
  }

  /** Decides how to consume the chunk payload; returns the request if the chunk is an empty final one. */
  private startChunk(req: NbdInflight): NbdInflight | undefined {
    const type = this.chunkType;
    const len = this.remaining;
    if (type === NbdChunk.OFFSET_DATA) {
      if (req.type !== NbdCommand.READ || len <= 8 || len > NBD_MAX_PAYLOAD + 8) throw new NbdProtocolError('invalid data chunk');
      this.state = ReplyState.DataPrefix;
      return undefined;
    }
    if (type === NbdChunk.NONE) {
      if (len !== 0 || (this.chunkFlags & NBD_REPLY_FLAG_DONE) === 0) throw new NbdProtocolError('invalid none chunk');
      return this.endChunk();
    }
    if (type === NbdChunk.OFFSET_HOLE || type === NbdChunk.BLOCK_STATUS || isChunkError(type)) {
      if (len > NBD_MAX_CHUNK_PAYLOAD) throw new NbdProtocolError(`chunk of ${len} bytes is too large`);
      if (this.scratch.byteLength < len) this.scratch = new Uint8Array(Math.max(len, this.scratch.byteLength * 2));
      this.state = ReplyState.Buffered;
      return len === 0 ? this.applyEmpty(req) : undefined;
    }
    // Unknown informational chunk types are skipped, as the protocol allows.
    this.state = ReplyState.Skip;
    return len === 0 ? this.endChunk() : undefined;
  }

  private applyEmpty(req: NbdInflight): NbdInflight | undefined {
    this.applyBuffered(req, this.scratch.subarray(0, 0));
    return this.endChunk();
  }

  private applyBuffered(req: NbdInflight, payload: Uint8Array): void {
    const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    const type = this.chunkType;
    if (type === NbdChunk.OFFSET_HOLE) {
      if (req.type !== NbdCommand.READ || payload.byteLength !== 12) throw new NbdProtocolError('invalid hole chunk');
      const at = readUint64(v, 0) - req.offset;
      const n = v.getUint32(8);
      if (at < 0 || n === 0 || at + n > req.length) throw new NbdProtocolError('server sent a hole outside the requested range');
      zeroIovRange(req.iov!, at, n);
    } else if (type === NbdChunk.BLOCK_STATUS) {
      if (req.type !== NbdCommand.BLOCK_STATUS || payload.byteLength < 12 || (payload.byteLength - 4) % 8 !== 0) {
        throw new NbdProtocolError('invalid block status chunk');
      }
      if (v.getUint32(0) === req.statusContext && req.statusLength === 0) {
        req.statusLength = v.getUint32(4);
        req.statusFlags = v.getUint32(8);
      }
    } else {
      // Error chunk: error, message length, message (ERROR_OFFSET adds an offset after it).
      if (payload.byteLength < 6) throw new NbdProtocolError('invalid error chunk');
      const error = v.getUint32(0);
      const msgLen = v.getUint16(4);
      if (error === 0 || 6 + msgLen > payload.byteLength) throw new NbdProtocolError('invalid error chunk');
      if (req.error === 0) {
        req.error = error;
        req.errorMessage = new TextDecoder().decode(payload.subarray(6, 6 + msgLen));
      }
    }
  }

  private endChunk(): NbdInflight | undefined {
    this.state = ReplyState.Header;
    const req = this.inflight;
    if ((this.chunkFlags & NBD_REPLY_FLAG_DONE) === 0) return undefined;
    this.inflight = null;
    return req ?? undefined;
  }
}

/** Copies `n` queued bytes into the iov starting at byte `pos`; returns the new position. */
function copyQueueToIov(q: ByteQueue, iov: Uint8Array[], pos: number, n: number): number {
  let base = 0;
  let left = n;
  let at = pos;
  for (let i = 0; i < iov.length && left > 0; i++) {
    const buf = iov[i]!;
    const end = base + buf.byteLength;
    if (at < end) {
      const take = Math.min(end - at, left);
      q.read(buf, at - base, take);
      at += take;
      left -= take;
    }
    base = end;
  }
  if (left > 0) q.skip(left);
  return pos + n;
}

function zeroIovRange(iov: Uint8Array[], start: number, n: number): void {
  let base = 0;
  const end = start + n;
  for (let i = 0; i < iov.length && base < end; i++) {
    const buf = iov[i]!;
    const from = Math.max(start - base, 0);
    const to = Math.min(end - base, buf.byteLength);
    if (from < to) buf.fill(0, from, to);
    base += buf.byteLength;
  }
}
