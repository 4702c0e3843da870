// The listening side of the test peer: accepts connections on 127.0.0.1 (a
// port it picks) or a unix socket, parses requests with the shared frame
// state machine, runs them one at a time through the SheepNode, and answers
// by id — optionally with seeded jitter so replies come back out of order.
import { createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import {
  FrameReader, SheepdogProtocolError, SD_HEADER_SIZE, SD_FLAG_CMD_WRITE, SD_INODE_SIZE,
  SD_VDI_BITMAP_SIZE, SD_RES_INVALID_PARMS, decodeRequest, encodeReply, type SheepdogRequestHeader,
} from '@tsemu/block-sheepdog';
import { SheepNode, type SheepNodeOptions, type NodeReply } from './sheep-node.js';
import { RequestLog, type LoggedRequest } from './request-log.js';

/** Largest payload a request may carry or ask for: a whole inode. Anything larger is hostile. */
export const MAX_REQUEST_PAYLOAD = Math.max(SD_INODE_SIZE, SD_VDI_BITMAP_SIZE);

export interface SheepdogTestServerOptions extends SheepNodeOptions {
  /** Folder holding the objects (created if missing). */
  dir: string;
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. Ignored with socketPath. */
  port?: number;
  /** Listen on this unix socket instead of TCP. */
  socketPath?: string;
  /** Delay each reply by a pseudo-random 0..N ms (seeded) so pipelined replies reorder. */
  replyJitterMs?: number;
  seed?: number;
}

/** Backpressure: stop reading a client with this many requests queued or this many reply bytes unsent. */
const MAX_QUEUED_PER_CONNECTION = 64;
const MAX_UNSENT_REPLY_BYTES = 16 << 20;

class PeerConnection extends FrameReader {
  private pendingHeader: SheepdogRequestHeader | null = null;
  /** Requests parsed but not yet answered. */
  queued = 0;
  /** Parsed requests waiting for this client to read its replies (not yet in the server's queue). */
  readonly backlog: Array<{ h: SheepdogRequestHeader; payload: Buffer | null; entry: LoggedRequest }> = [];
  /** Requests of this connection in the server's queue. */
  running = 0;

  constructor(readonly server: SheepdogTestServer, readonly socket: Socket, readonly num: number) {
    super();
  }

  protected beginPayload(header: Buffer): Uint8Array | null {
    const h = decodeRequest(header);
    this.pendingHeader = h;
    if (!(h.flags & SD_FLAG_CMD_WRITE) || h.dataLength === 0) return null;
    if (h.dataLength > MAX_REQUEST_PAYLOAD) throw new SheepdogProtocolError(`request payload of ${h.dataLength} bytes refused`);
    return Buffer.allocUnsafe(h.dataLength); // filled completely by the frame reader before use
  }

  protected frameDone(_header: Buffer, payload: Uint8Array | null): void {
    const h = this.pendingHeader!;
    this.pendingHeader = null;
    this.server.enqueue(this, h, payload as Buffer | null);
  }

  protected readerFailed(err: SheepdogProtocolError): void {
    this.server.protocolErrors.push(err.message);
    this.socket.destroy();
  }

  /** Pauses reading while the client has too much outstanding; resumes once it catches up. */
  updateFlow(): void {
    const s = this.socket;
    const busy = this.queued >= MAX_QUEUED_PER_CONNECTION || s.writableLength >= MAX_UNSENT_REPLY_BYTES;
    if (busy && !s.isPaused()) s.pause();
    else if (!busy && s.isPaused()) s.resume();
  }

  reply(h: SheepdogRequestHeader, r: NodeReply): void {
    this.queued--;
    if (this.socket.destroyed) return;
    const data = r.data;
    const header = Buffer.alloc(SD_HEADER_SIZE); // per reply: several may be queued in the socket at once
    encodeReply(header, h.opcode, 0, h.id, data ? data.length : 0, r.result, r.vdiId);
    this.socket.cork();
    this.socket.write(header);
    if (data && data.length) this.socket.write(data);
    this.socket.uncork();
    this.updateFlow();
  }
}

export class SheepdogTestServer {
  readonly node: SheepNode;
  readonly log = new RequestLog();
  readonly protocolErrors: string[] = [];
  private server: Server | null = null;
  private readonly conns = new Set<PeerConnection>();
  private connCount = 0;
  private queue: Promise<void> = Promise.resolve();
  private rng: number;
  /** While set, requests are parked (the daemon is "busy"); see pause(). */
  private paused: Promise<void> | null = null;
  private resume: (() => void) | null = null;

  private constructor(readonly opts: SheepdogTestServerOptions) {
    this.node = new SheepNode(opts.dir, opts);
    this.rng = (opts.seed ?? 1) >>> 0 || 1;
  }

  static async start(opts: SheepdogTestServerOptions): Promise<SheepdogTestServer> {
    const s = new SheepdogTestServer(opts);
    await s.node.init();
    await s.listen();
    return s;
  }

  private listen(): Promise<void> {
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      const done = (): void => { server.off('error', reject); resolve(); };
      if (this.opts.socketPath) server.listen(this.opts.socketPath, done);
      else server.listen(this.opts.port ?? 0, '127.0.0.1', done);
    });
  }

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  /** The filename a client opens: sheepdog://127.0.0.1:PORT/vdi or the unix form. */
  uri(vdi: string): string {
    return this.opts.socketPath ? `sheepdog+unix:///${vdi}?socket=${this.opts.socketPath}` : `sheepdog://127.0.0.1:${this.port}/${vdi}`;
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    const conn = new PeerConnection(this, socket, ++this.connCount);
    this.conns.add(conn);
    socket.on('data', (chunk) => conn.push(chunk));
    socket.on('drain', () => {
      conn.updateFlow();
      this.pump(conn);
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.conns.delete(conn));
  }

  enqueue(conn: PeerConnection, h: SheepdogRequestHeader, payload: Buffer | null): void {
    const entry = this.log.add(conn.num, h);
    conn.queued++;
    conn.updateFlow();
    conn.backlog.push({ h, payload, entry });
    this.pump(conn);
  }

  /** Moves a connection's requests into the server queue while the client keeps up with its replies. */
  private pump(conn: PeerConnection): void {
    while (conn.backlog.length > 0 && conn.running < 16 && conn.socket.writableLength < MAX_UNSENT_REPLY_BYTES) {
      const { h, payload, entry } = conn.backlog.shift()!;
      conn.running++;
      this.queue = this.queue.then(() => this.run(conn, h, payload, entry));
    }
  }

  private async run(conn: PeerConnection, h: SheepdogRequestHeader, payload: Buffer | null, entry: LoggedRequest): Promise<void> {
    if (this.paused) await this.paused;
    let r: NodeReply;
    if (!(h.flags & SD_FLAG_CMD_WRITE) && h.dataLength > MAX_REQUEST_PAYLOAD) {
      r = { result: SD_RES_INVALID_PARMS, data: null, vdiId: 0 };
    } else {
      try {
        r = await this.node.handle(h, payload);
      } catch (err) {
        this.protocolErrors.push(`handler failed: ${(err as Error).message}`);
        r = { result: 0x03, data: null, vdiId: 0 };
      }
    }
    entry.result = r.result;
    const jitter = this.opts.replyJitterMs ?? 0;
    if (jitter > 0) setTimeout(() => this.answer(conn, h, r), this.nextRandom() % (jitter + 1));
    else this.answer(conn, h, r);
  }

  private answer(conn: PeerConnection, h: SheepdogRequestHeader, r: NodeReply): void {
    conn.reply(h, r);
    conn.running--;
    this.pump(conn);
  }

  private nextRandom(): number {
    // xorshift32: deterministic per seed, good enough to shuffle reply order
    let x = this.rng;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.rng = x;
    return x;
  }

  /** Holds every request that arrives until the returned function is called. */
  pause(): () => void {
    if (!this.paused) this.paused = new Promise<void>((r) => (this.resume = r));
    return () => {
      const r = this.resume;
      this.paused = null;
      this.resume = null;
      r?.();
    };
  }

  /** "Lose the cache": drop unflushed object-cache data, as a daemon crash would. */
  loseCache(): Promise<number> {
    return this.node.loseCache();
  }

  /** Cuts every client connection (a daemon restart without losing the store). */
  dropConnections(): void {
    for (const c of this.conns) c.socket.destroy();
    this.node.dropLocks();
  }

  get connections(): number {
    return this.conns.size;
  }

  /** Stops listening and cuts clients. With `crash`, the cache is lost instead of flushed. */
  async close(opts: { crash?: boolean } = {}): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const c of this.conns) c.socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await this.queue;
    if (opts.crash) await this.node.loseCache();
    else await this.node.flushAll();
    this.node.closeStore();
  }
}
