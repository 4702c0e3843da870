// The long-lived I/O socket of an open image: object requests are pipelined
// and each reply is matched to its request by id (the daemon answers out of
// order). Read replies land straight in the caller's buffer; a reply that
// claims more bytes than its request asked for, or names an unknown id, is a
// protocol violation that fails every request in flight and the connection.
//
// Per request: no closures, no header allocation. Request records (with
// their 48-byte header) are pooled; each gets its promise through an
// executor bound once per record. Requests issued in the same tick leave in
// one writev: the socket is corked at the first and uncorked on the next
// process tick, so a queue of guest requests that all resume on one batch of
// replies costs one send syscall instead of one each (same bytes on the wire).
import type { Socket } from 'node:net';
import { SD_HEADER_SIZE } from '../wire/constants.js';
import { FrameReader, SheepdogProtocolError } from '../wire/frame-reader.js';
import { encodeObjRequest, replyDataLength, replyId, replyResult } from '../wire/header.js';
import { connectSheep } from './socket.js';
import { sdTransportError, type SheepdogError } from './errors.js';
import type { SheepdogAddress } from './location.js';

class IoRequest {
  id = 0;
  recv: Uint8Array | null = null;
  readonly header = Buffer.alloc(SD_HEADER_SIZE);
  resolve: (result: number) => void = noop;
  reject: (err: Error) => void = noop;
  readonly executor = (resolve: (result: number) => void, reject: (err: Error) => void): void => {
    this.resolve = resolve;
    this.reject = reject;
  };
}

function noop(): void {}

const POOL_MAX = 256;

export class SheepdogIoConnection extends FrameReader {
  private readonly inflight = new Map<number, IoRequest>();
  private readonly pool: IoRequest[] = [];
  private nextId = 1;
  private broken: SheepdogError | null = null;
  private readonly onClose = (): void => this.failAll(sdTransportError('connection to sheepdog closed'));
  private readonly onError = (err: Error): void => this.failAll(sdTransportError(`sheepdog connection failed: ${err.message}`));
  /** The socket is corked until the next tick (requests of this tick are being gathered). */
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };
  /** Set by open() once connected (replies are read into this reader from the start: see connectSheep). */
  private socket!: Socket;

  private constructor() {
    super();
  }

  static async open(address: SheepdogAddress): Promise<SheepdogIoConnection> {
    const conn = new SheepdogIoConnection();
    const socket = await connectSheep(address, conn);
    conn.socket = socket;
    socket.on('close', conn.onClose);
    socket.on('error', conn.onError);
    if (conn.broken) socket.destroy();
    return conn;
  }

  get inFlight(): number {
    return this.inflight.size;
  }

  /** Set once the connection failed; every later request fails with it. */
  get error(): SheepdogError | null {
    return this.broken;
  }

  /**
   * Sends one object request and resolves with the daemon's SD_RES_* result.
   * `send` is the write payload; `recv` receives a read's data (zero-filled
   * past what the daemon sent). Rejects only on transport failure.
   */
  request(
    opcode: number, flags: number, oidHi: number, oidLo: number, cowHi: number, cowLo: number,
    copies: number, offset: number, send: Uint8Array | null, recv: Uint8Array | null,
  ): Promise<number> {
    if (this.broken) return Promise.reject(this.broken);
    const req = this.pool.pop() ?? new IoRequest();
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0 || 1;
    req.id = id;
    req.recv = recv;
    const dataLength = send ? send.length : recv ? recv.length : 0;
    encodeObjRequest(req.header, opcode, flags, id, dataLength, oidHi, oidLo, cowHi, cowLo, copies, offset);
    const promise = new Promise<number>(req.executor);
    this.inflight.set(id, req);
    const s = this.socket;
    if (!this.corked) {
      // Header and payload (and this tick's other requests) leave in one writev.
      this.corked = true;
      s.cork();
      process.nextTick(this.uncork);
    }
    s.write(req.header);
    if (send && send.length) s.write(send);
    return promise;
  }

  protected beginPayload(header: Buffer): Uint8Array | null {
    const req = this.inflight.get(replyId(header));
    if (!req) throw new SheepdogProtocolError(`reply for unknown request id ${replyId(header)}`);
    const len = replyDataLength(header);
    if (len === 0) return null;
    if (!req.recv || len > req.recv.length) {
      throw new SheepdogProtocolError(`reply carries ${len} bytes, request ${req.id} expected at most ${req.recv?.length ?? 0}`);
    }
    return req.recv.subarray(0, len);
  }

  protected frameDone(header: Buffer, payload: Uint8Array | null): void {
    const id = replyId(header);
    const req = this.inflight.get(id)!;
    this.inflight.delete(id);
    const got = payload ? payload.length : 0;
    if (req.recv && got < req.recv.length) req.recv.fill(0, got);
    const resolve = req.resolve;
    this.release(req);
    resolve(replyResult(header));
  }

  protected readerFailed(err: SheepdogProtocolError): void {
    this.failAll(sdTransportError(`sheepdog protocol error: ${err.message}`));
  }

  private release(req: IoRequest): void {
    req.recv = null;
    req.resolve = noop;
    req.reject = noop;
    if (this.pool.length < POOL_MAX) this.pool.push(req);
  }

  private failAll(err: SheepdogError): void {
    if (!this.broken) this.broken = err;
    this.socket?.destroy(); // unset only if a hostile peer spoke before open() returned: open() destroys it then
    const reqs = [...this.inflight.values()];
    this.inflight.clear();
    for (const req of reqs) {
      const reject = req.reject;
      this.release(req);
      reject(this.broken);
    }
  }

  /** Closes the socket; requests still in flight fail. */
  close(): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
      this.socket.destroySoon();
    });
  }
}
