// One client connection: greeting, option negotiation, then transmission.
// Input is parsed by the codec's state machines from a ByteQueue; reading
// pauses while all request slots are busy or while more reply bytes than
// the write limit wait for a client that does not read them, so a fast or
// hostile client cannot make the server buffer without bound. A client must
// finish negotiating within the handshake limit (QEMU's 10 s). Nothing a
// client sends can throw out of this class: protocol violations end this
// connection only.
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext, type TLSSocketOptions, type TlsOptions } from 'node:tls';
import { BlockError, type Errno } from '@tsemu/block-core';
import {
  ByteQueue, NBD_CMD_FLAG_DF, NBD_CMD_FLAG_FAST_ZERO, NBD_CMD_FLAG_FUA, NBD_CMD_FLAG_NO_HOLE, NBD_CMD_FLAG_REQ_ONE,
  NBD_FLAG_C_FIXED_NEWSTYLE, NBD_FLAG_C_NO_ZEROES, NBD_FLAG_FIXED_NEWSTYLE, NBD_FLAG_NO_ZEROES, NBD_INIT_MAGIC_HI,
  NBD_INIT_MAGIC_LO, NBD_OPTS_MAGIC_HI, NBD_OPTS_MAGIC_LO, NBD_REPLY_FLAG_DONE, NBD_STATE_HOLE, NBD_STATE_ZERO,
  NbdChunk, NbdCommand, NbdOptionParser, NbdOptionReply, NbdProtocolError, NbdRequestParser, encodeOptionReply,
  errnoToNbd, readClientFlags, tlsHandshakeError, writeSimpleReply, writeStructuredHeader,
} from '@tsemu/block-nbd';
import { ALLOCATION_DEPTH_ID, BASE_ALLOCATION_ID, DIRTY_BITMAP_ID, negotiate, type NegotiationState } from './negotiation.js';
import { bitmapExtents } from './bitmap-extents.js';
import type { NbdExport } from './export.js';
import { DATA_AT, RequestSlot } from './request-slot.js';
import { checkRequest } from './request-checks.js';
import { SPARSE_READ_MIN, buildSparseReply, knownData, sparseExtents } from './sparse-read.js';
import { STATUS_DATA, STATUS_ZERO } from './status-cache.js';
import { checkTlsPeer, type TlsAuthzRef } from './tls-peer.js';

export const MAX_REQUESTS = 16;
/** Handshake replies we let pile up unread before we stop reading options. */
const MAX_UNREAD_REPLIES = 1 << 20;
/** Extents per BLOCK_STATUS reply without REQ_ONE (bounds the work one request can cause). */
const MAX_EXTENTS = 1024;
/** QEMU 7.2's NBD_DEFAULT_HANDSHAKE_MAX_SECS: a client still negotiating after this is dropped. */
export const HANDSHAKE_MAX_MS = 10_000;
/**
 * READ reply bytes per client that may be in the making or waiting in the
 * socket's write buffer; past this no further request is taken until the
 * client reads. A client that never reads costs at most this plus one
 * request (QEMU's bound is its 16 request slots: up to 16 x 32 MiB). Large
 * enough for 16 requests of 2 MiB, so ordinary clients never wait on it.
 */
export const WRITE_LIMIT = 32 << 20;

const enum Phase { ClientFlags, Options, Transmission, Closing }

export interface ServerTls {
  context: SecureContext;
  /** Require a client certificate signed by the CA (QEMU's verify-peer, default on). */
  verifyPeer: boolean;
  /** PSK credentials: the client's identity is looked up here (keys.psk) at each handshake. */
  pskKey?: (identity: string) => Buffer | null;
  /** --tls-authz (x509 with verify-peer only, as in qemu-nbd 7.2). */
  authz?: TlsAuthzRef;
}

export interface ConnectionHooks {
  exports: ReadonlyMap<string, NbdExport>;
  tls?: ServerTls;
  /** Verbose log line (qemu-nbd -v), or undefined. */
  log?: (line: string) => void;
  /** A client failed negotiation: qemu-nbd reports each one on stderr, -v or not. */
  negotiationFailed?: (reason: string) => void;
  onClose(conn: NbdServerConnection): void;
  /** Internal (tests): negotiation time limit instead of HANDSHAKE_MAX_MS. */
  handshakeMaxMs?: number;
  /** Internal (tests): unread reply bytes that stop request intake, instead of WRITE_LIMIT. */
  writeLimit?: number;
}

export class NbdServerConnection {
  private readonly queue = new ByteQueue();
  private phase = Phase.ClientFlags;
  private readonly optionParser = new NbdOptionParser();
  private readonly requestParser = new NbdRequestParser();
  private readonly state: NegotiationState;
  private exp: NbdExport | null = null;
  /** Metadata contexts selected for the export in transmission. */
  private allocation = false;
  private allocationDepth = false;
  /** Export bitmap indexes selected for block status (qemu:dirty-bitmap:NAME). */
  private bitmaps: number[] | undefined;
  private readonly free: RequestSlot[] = [];
  private inflight = 0;
  /** The slot the request parser is filling (a WRITE payload may span many reads). */
  private parsing: RequestSlot | null = null;
  private paused = false;
  private closed = false;
  /** After DISC or a fatal request: answer what is in flight, then end. */
  private draining = false;
  private readonly writeLimit: number;
  /** READ bytes taken whose replies have not yet left for the kernel (see WRITE_LIMIT). */
  private replyBytes = 0;
  private handshakeTimer: ReturnType<typeof setTimeout> | null;
  /** Replies finished in one event-loop turn leave in one writev: corked until the next tick. */
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };
  /** Requests taken off the wire: lets tests see that a stalled client stopped costing work. */
  requestsStarted = 0;

  private readonly onData = (chunk: Uint8Array): void => {
    if (this.closed) return;
    this.queue.push(chunk);
    this.pump();
  };
  private readonly onGone = (err?: unknown): void => {
    if (!this.closed && this.negotiating) {
      this.hooks.negotiationFailed?.(this.tlsHandshaking ? `TLS handshake failed: ${tlsHandshakeError(err)}` : this.eofReason());
    }
    this.destroy();
  };
  /** Between STARTTLS's ACK and the end of the TLS handshake (and the peer checks after it). */
  private tlsHandshaking = false;
  /** The plain TCP/unix socket (the listener's); `socket` becomes the TLS layer after STARTTLS. */
  private readonly plain: Socket;

  constructor(public socket: Socket, private readonly hooks: ConnectionHooks) {
    this.plain = socket;
    this.writeLimit = hooks.writeLimit ?? WRITE_LIMIT;
    // QEMU shuts the channel down, so its pending read reports end-of-file.
    this.handshakeTimer = setTimeout(() => this.fail(this.eofReason()), hooks.handshakeMaxMs ?? HANDSHAKE_MAX_MS);
    this.handshakeTimer.unref();
    this.state = {
      noZeroes: false, tlsConfigured: hooks.tls !== undefined, tlsActive: false, structured: false, allocation: false, allocationDepth: false, metaExport: null,
    };
    const release = (slot: RequestSlot): void => this.release(slot);
    for (let i = 0; i < MAX_REQUESTS; i++) this.free.push(new RequestSlot(release));
    socket.setNoDelay(true);
    this.attach(socket);
    const greeting = new Uint8Array(18);
    const v = new DataView(greeting.buffer);
    v.setUint32(0, NBD_INIT_MAGIC_HI);
    v.setUint32(4, NBD_INIT_MAGIC_LO);
    v.setUint32(8, NBD_OPTS_MAGIC_HI);
    v.setUint32(12, NBD_OPTS_MAGIC_LO);
    v.setUint16(16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    socket.write(greeting);
  }

  private attach(socket: Socket): void {
    socket.on('data', this.onData);
    socket.on('error', this.onGone);
    socket.on('close', this.onGone);
    socket.on('end', this.onGone);
  }

  /** STARTTLS was acknowledged: the rest of the conversation runs inside TLS. */
  private startTls(): void {
    const tls = this.hooks.tls!;
    // The client must wait for our ACK before its ClientHello: queued bytes mean it did not.
    if (this.queue.length > 0) return this.fail('data received before the TLS handshake');
    const plain = this.socket;
    plain.off('data', this.onData);
    plain.off('end', this.onGone);
    // The certificate is judged after the handshake (checkTlsPeer), as qemu-nbd does, so a
    // refused client gets qemu-nbd's reason and a dropped connection rather than a TLS alert.
    // node:tls takes a server-side pskCallback on a TLSSocket too; its typings list it for tls.Server only.
    const options: TLSSocketOptions & Pick<TlsOptions, 'pskCallback'> = { isServer: true, secureContext: tls.context, requestCert: tls.verifyPeer, rejectUnauthorized: false };
    if (tls.pskKey) {
      const lookup = tls.pskKey;
      options.pskCallback = (_socket: TLSSocket, identity: string) => lookup(identity);
    }
    const secure = new TLSSocket(plain, options);
    this.socket = secure;
    this.state.tlsActive = true;
    this.tlsHandshaking = true;
    secure.once('secure', () => this.tlsDone(secure, tls));
    this.attach(secure);
  }

  private tlsDone(secure: TLSSocket, tls: ServerTls): void {
    if (this.closed) return;
    if (!tls.pskKey && tls.verifyPeer) {
      const refused = checkTlsPeer(secure, tls.authz);
      if (refused !== null) return this.fail(refused);
    }
    this.tlsHandshaking = false;
    this.log(`TLS established: ${secure.getProtocol() ?? '?'} ${secure.getCipher()?.standardName ?? ''}`);
    this.pump();
  }

  private log(line: string): void {
    this.hooks.log?.(line);
  }

  /** Parses as much input as the phase and free slots allow. */
  private pump(): void {
    try {
      while (!this.closed && !this.draining) {
        if (this.phase === Phase.ClientFlags) {
          const flags = readClientFlags(this.queue);
          if (flags === undefined) return;
          const known = NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES;
          if ((flags & ~known) !== 0) {
            return this.fail(`Unknown client flags 0x${(flags & ~known).toString(16)} received`);
          }
          this.state.noZeroes = (flags & NBD_FLAG_C_NO_ZEROES) !== 0;
          this.phase = Phase.Options;
        } else if (this.phase === Phase.Options) {
          if (this.tlsHandshaking) return;
          // A client that sends options without reading the replies must not make us buffer them without bound.
          if (this.socket.writableLength > MAX_UNREAD_REPLIES) return this.waitForDrain();
          const ev = this.optionParser.next(this.queue);
          if (ev === undefined) return;
          if (ev.kind === 'too-big') {
            if (ev.option === 1) return this.fail('Bad length received');
            this.socket.write(encodeOptionReply(ev.option, NbdOptionReply.ERR_TOO_BIG, new TextEncoder().encode('option payload too large')));
            continue;
          }
          const step = negotiate(this.hooks.exports, this.state, ev.option, ev.data);
          for (const r of step.replies) this.socket.write(r);
          if (step.outcome.next === 'close') return this.end();
          if (step.outcome.next === 'starttls') {
            this.startTls();
            continue;
          }
          if (step.outcome.next === 'transmit') {
            this.exp = step.outcome.export;
            const forThis = this.state.metaExport === this.exp.name;
            this.allocation = this.state.allocation && forThis;
            this.allocationDepth = this.state.allocationDepth && forThis;
            this.bitmaps = forThis ? this.state.bitmaps : undefined;
            this.phase = Phase.Transmission;
            clearTimeout(this.handshakeTimer!);
            this.handshakeTimer = null;
            this.log(`client entered transmission on export '${this.exp.name}'`);
          }
        } else if (this.phase === Phase.Transmission) {
          if (!this.takeRequest()) return;
        } else {
          return;
        }
      }
    } catch (err) {
      this.fail(err instanceof NbdProtocolError ? err.message : String(err));
    }
  }

  /** READ reply bytes being produced or queued in user space (not yet taken by the kernel). */
  get pendingReplyBytes(): number {
    return this.replyBytes;
  }

  /** Parses one request into a free slot and dispatches it; false when input, slots or reply room run out. */
  private takeRequest(): boolean {
    let slot = this.parsing;
    if (slot === null) {
      // A client that sends requests but does not read the replies: stop here until they drain.
      // Every byte counted belongs to a slot in flight, whose release resumes us.
      if (this.replyBytes > this.writeLimit) {
        this.pause();
        return false;
      }
      slot = this.free.pop() ?? null;
      if (slot === null) {
        this.pause();
        return false;
      }
      this.parsing = slot;
    }
    const complete = this.requestParser.next(this.queue, slot.req);
    if (!complete) {
      // Mid-header keeps nothing in the slot; mid-payload must keep it.
      if (!this.requestParser.midPayload) {
        this.parsing = null;
        this.free.push(slot);
      }
      return false;
    }
    this.parsing = null;
    this.inflight++;
    this.requestsStarted++;
    if (slot.req.type === NbdCommand.READ) {
      slot.charged = slot.req.length;
      this.replyBytes += slot.charged;
    }
    this.dispatch(slot);
    return true;
  }

  private waitForDrain(): void {
    this.pause();
    this.socket.once('drain', () => {
      if (this.closed) return;
      this.paused = false;
      this.socket.resume();
      this.pump();
    });
  }

  private pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private release(slot: RequestSlot): void {
    this.inflight--;
    this.replyBytes -= slot.charged;
    slot.charged = 0;
    slot.reset();
    this.free.push(slot);
    if (this.draining && this.inflight === 0) return this.end();
    if (this.paused && !this.closed) {
      this.paused = false;
      this.socket.resume();
      this.pump();
    }
  }

  private dispatch(slot: RequestSlot): void {
    const req = slot.req;
    const exp = this.exp!;
    if (req.type === NbdCommand.DISC) {
      this.log('client sent disconnect');
      this.inflight--;
      this.free.push(slot);
      this.startDraining();
      return;
    }
    const failure = checkRequest(req, exp, this.state.structured, this.allocation || this.allocationDepth || this.bitmaps !== undefined);
    if (failure !== null) {
      this.log(`request rejected: ${failure.message}`);
      this.replyError(slot, failure.errno, failure.message);
      // An oversized WRITE's payload was never read: the stream is out of sync.
      if (req.oversized) this.startDraining();
      return;
    }
    void this.run(slot, exp);
  }

  /** Executes and replies; every failure becomes an NBD error reply (nothing escapes to the event loop). */
  private async run(slot: RequestSlot, exp: NbdExport): Promise<void> {
    try {
      await this.execute(slot, exp);
    } catch (err) {
      const code: Errno = err instanceof BlockError ? err.code : 'EIO';
      this.replyError(slot, code, err instanceof Error ? err.message : String(err));
    }
  }

  private async execute(slot: RequestSlot, exp: NbdExport): Promise<void> {
    const req = slot.req;
    const blk = exp.backend;
    const fua = (req.flags & NBD_CMD_FLAG_FUA) !== 0;
    switch (req.type) {
      case NbdCommand.READ: {
        if (req.length === 0) return this.replyOk(slot);
        const buf = slot.readView(req.length);
        if (this.state.structured && (req.flags & NBD_CMD_FLAG_DF) === 0 && req.length >= SPARSE_READ_MIN
          && !knownData(exp.status, req.offset, req.length)) {
          const extents = await sparseExtents(exp.status, req.offset, req.length, slot.status);
          if (extents !== null) return this.replyChunks(slot, await buildSparseReply(blk, extents, req.offset, buf, req.handleHi, req.handleLo));
        }
        await blk.read(req.offset, buf);
        return this.replyData(slot);
      }
      case NbdCommand.WRITE:
        if (req.length > 0) {
          exp.status.beginWrite();
          try {
            await blk.write(req.offset, req.data!, fua ? FUA : NO_FLAGS);
          } finally {
            exp.status.endWrite();
          }
        }
        return this.replyOk(slot);
      case NbdCommand.FLUSH:
        await blk.flush();
        return this.replyOk(slot);
      case NbdCommand.TRIM:
        if (req.length > 0) {
          exp.status.beginWrite();
          try {
            await blk.discard(req.offset, req.length);
          } finally {
            exp.status.endWrite();
          }
        }
        if (fua) await blk.flush();
        return this.replyOk(slot);
      case NbdCommand.WRITE_ZEROES:
        if (req.length > 0) {
          exp.status.beginWrite();
          try {
            await blk.writeZeroes(req.offset, req.length, {
              fua,
              mayUnmap: (req.flags & NBD_CMD_FLAG_NO_HOLE) === 0,
              noFallback: (req.flags & NBD_CMD_FLAG_FAST_ZERO) !== 0,
            });
          } finally {
            exp.status.endWrite();
          }
        }
        return this.replyOk(slot);
      case NbdCommand.CACHE:
        // Nothing to prefetch into: the host page cache does this for us.
        return this.replyOk(slot);
      case NbdCommand.BLOCK_STATUS:
        return this.replyBlockStatus(slot, exp);
      default:
        throw new BlockError('EINVAL');
    }
  }

  private async replyBlockStatus(slot: RequestSlot, exp: NbdExport): Promise<void> {
    const req = slot.req;
    const one = (req.flags & NBD_CMD_FLAG_REQ_ONE) !== 0;
    const base = this.allocation ? await this.statusExtents(slot, exp, one, false) : null;
    const depth = this.allocationDepth ? await this.statusExtents(slot, exp, one, true) : null;
    const dirty = this.bitmaps?.map((i) => bitmapExtents(exp.bitmaps[i]!, req.offset, req.length, one ? 1 : MAX_EXTENTS)) ?? [];
    // One chunk per selected context, in qemu-nbd's order; the last one ends the reply.
    let size = (base ? 24 + base.length * 4 : 0) + (depth ? 24 + depth.length * 4 : 0);
    for (const d of dirty) size += 24 + d.length * 4;
    const body = new Uint8Array(size);
    const v = new DataView(body.buffer);
    let at = 0;
    if (base) at = writeStatusChunk(v, at, depth || dirty.length > 0 ? 0 : NBD_REPLY_FLAG_DONE, req, BASE_ALLOCATION_ID, base);
    if (depth) at = writeStatusChunk(v, at, dirty.length > 0 ? 0 : NBD_REPLY_FLAG_DONE, req, ALLOCATION_DEPTH_ID, depth);
    dirty.forEach((d, k) => {
      at = writeStatusChunk(v, at, k === dirty.length - 1 ? NBD_REPLY_FLAG_DONE : 0, req, DIRTY_BITMAP_ID + this.bitmaps![k]!, d);
    });
    if (this.closed) return slot.onFlushed();
    this.batch();
    this.socket.write(body, slot.onFlushed);
  }

  /**
   * The extents of one metadata context as (length, value) pairs, equal
   * neighbours merged: base:allocation flags from the export's status cache,
   * or qemu:allocation-depth (0 where no layer of the backing chain has the
   * range, 1 for the image itself, 2 for its backing file ...).
   */
  private async statusExtents(slot: RequestSlot, exp: NbdExport, one: boolean, depth: boolean): Promise<number[]> {
    const req = slot.req;
    const extents: number[] = [];
    let pos = req.offset;
    const end = req.offset + req.length;
    const answer = slot.status;
    while (pos < end && extents.length < (one ? 2 : MAX_EXTENTS * 2)) {
      let value: number;
      if (depth) {
        const a = await exp.backend.isAllocatedAbove(pos, end - pos);
        answer[0] = pos + a.length;
        value = a.allocated ? a.depth + 1 : 0;
      } else {
        await exp.status.lookup(pos, end, answer);
        const st = answer[1]!;
        value = ((st & STATUS_DATA) !== 0 ? 0 : NBD_STATE_HOLE) | ((st & STATUS_ZERO) !== 0 ? NBD_STATE_ZERO : 0);
      }
      const n = Math.min(answer[0]!, end) - pos;
      if (n <= 0) break;
      addExtent(extents, n, value);
      pos += n;
    }
    if (extents.length === 0) throw new BlockError('EIO', 'no block status available');
    if (one && extents.length > 2) extents.length = 2;
    return extents;
  }

  /** Corks the socket until the next tick, so the replies of one event-loop turn go out together. */
  private batch(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(this.uncork);
  }

  private replyOk(slot: RequestSlot): void {
    const req = slot.req;
    if (this.closed) return slot.onFlushed();
    this.batch();
    if (this.state.structured && req.type === NbdCommand.READ) {
      writeStructuredHeader(slot.view, 0, NBD_REPLY_FLAG_DONE, NbdChunk.NONE, req.handleHi, req.handleLo, 0);
      this.socket.write(slot.header20, slot.onFlushed);
      return;
    }
    writeSimpleReply(slot.view, 0, req.handleHi, req.handleLo);
    this.socket.write(slot.header16, slot.onFlushed);
  }

  /** The READ data is already in the slot's reply buffer, after room for the header: one write. */
  private replyData(slot: RequestSlot): void {
    const req = slot.req;
    if (this.closed) return slot.onFlushed();
    this.batch();
    if (this.state.structured) {
      const v = slot.replyView!;
      writeStructuredHeader(v, 0, NBD_REPLY_FLAG_DONE, NbdChunk.OFFSET_DATA, req.handleHi, req.handleLo, 8 + req.length);
      v.setUint32(20, Math.floor(req.offset / 0x100000000));
      v.setUint32(DATA_AT - 4, req.offset >>> 0);
      this.socket.write(slot.structuredReply!, slot.onFlushed);
    } else {
      writeSimpleReply(slot.simpleView!, 0, req.handleHi, req.handleLo);
      this.socket.write(slot.simpleReply!, slot.onFlushed);
    }
  }

  /** Several structured chunks (the last one DONE) written back to back. */
  private replyChunks(slot: RequestSlot, parts: Uint8Array[]): void {
    if (this.closed) return slot.onFlushed();
    const socket = this.socket;
    this.batch();
    for (let i = 0; i < parts.length - 1; i++) socket.write(parts[i]!);
    socket.write(parts[parts.length - 1]!, slot.onFlushed);
  }

  private replyError(slot: RequestSlot, code: Errno, message: string): void {
    const req = slot.req;
    if (this.closed) return slot.onFlushed();
    const error = errnoToNbd(code);
    this.batch();
    if (this.state.structured) {
      const msg = new TextEncoder().encode(message.slice(0, 1024));
      const body = new Uint8Array(20 + 6 + msg.byteLength);
      const v = new DataView(body.buffer);
      writeStructuredHeader(v, 0, NBD_REPLY_FLAG_DONE, NbdChunk.ERROR, req.handleHi, req.handleLo, 6 + msg.byteLength);
      v.setUint32(20, error);
      v.setUint16(24, msg.byteLength);
      body.set(msg, 26);
      this.socket.write(body, slot.onFlushed);
      return;
    }
    writeSimpleReply(slot.view, error, req.handleHi, req.handleLo);
    this.socket.write(slot.header16, slot.onFlushed);
  }

  private startDraining(): void {
    this.draining = true;
    this.phase = Phase.Closing;
    this.socket.pause();
    if (this.inflight === 0) this.end();
  }

  /** Still in the handshake (client flags or options). */
  private get negotiating(): boolean {
    return this.phase === Phase.ClientFlags || this.phase === Phase.Options;
  }

  /** qemu-nbd's words for a client that stopped sending in the middle of the handshake. */
  private eofReason(): string {
    return this.phase === Phase.ClientFlags ? 'Failed to read flags: Unexpected end-of-file before all data were read'
      : this.optionParser.eofReason(this.queue);
  }

  /** Protocol violation: report it (stderr during the handshake, as qemu-nbd; -v always) and drop this client. */
  private fail(reason: string): void {
    if (!this.closed && this.negotiating) this.hooks.negotiationFailed?.(reason);
    this.log(`closing connection: ${reason}`);
    this.destroy();
  }

  /**
   * Graceful close: send what is queued, then close the socket fully. A
   * half-close (end) alone would leave a paused socket waiting forever for
   * the peer's FIN.
   */
  private end(): void {
    if (this.closed) return;
    this.phase = Phase.Closing;
    this.socket.destroySoon();
    this.finish();
  }

  destroy(): void {
    if (this.closed) return;
    this.socket.destroy();
    this.plain.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.handshakeTimer !== null) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.queue.clear();
    this.hooks.onClose(this);
  }
}

const NO_FLAGS = Object.freeze({});
const FUA = Object.freeze({ fua: true });

/** Appends (length, value) to an extent list, merged with an equal neighbour while the length fits 32 bits. */
function addExtent(extents: number[], length: number, value: number): void {
  const last = extents.length - 2;
  if (last >= 0 && extents[last + 1] === value && extents[last]! + length <= 0xffffffff) extents[last] += length;
  else extents.push(length, value);
}

/** One NBD_REPLY_TYPE_BLOCK_STATUS chunk for context `id` at byte `at` of `v`; returns the byte after it. */
function writeStatusChunk(v: DataView, at: number, flags: number, req: { handleHi: number; handleLo: number }, id: number, extents: number[]): number {
  const payload = 4 + extents.length * 4;
  writeStructuredHeader(v, at, flags, NbdChunk.BLOCK_STATUS, req.handleHi, req.handleLo, payload);
  v.setUint32(at + 20, id);
  for (let i = 0; i < extents.length; i++) v.setUint32(at + 24 + i * 4, extents[i]!);
  return at + 20 + payload;
}
