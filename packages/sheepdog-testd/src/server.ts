// The listening side of the test peer: accepts connections on 127.0.0.1 (a
// port it picks) or a unix socket, parses requests with the shared frame
// state machine (read in place: payloads straight into their buffers, see
// read-in-place.ts), runs them one at a time through the SheepNode, and
// answers by id — optionally with seeded jitter so replies come back out of
// order.
//
// The run loop takes requests from one FIFO; a request the node answers
// synchronously (small writes, reads, the object cache) is replied to at
// once, so a batch of pipelined requests that arrived in one read is
// handled in one pass, and its replies leave in one writev (the socket is
// corked until the next tick). Only thread-pool work (big writes, flushes)
// makes the loop wait for a promise. With `sync`, store writes are made
// durable by a group commit at the end of each pass (their fdatasyncs in
// parallel, as a journal batches them) and every reply of that pass is
// held until it completed: a write is never acknowledged before it is
// durable, and 16 DIRECT writes in flight share one commit round.
import { createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import {
  FrameReader, SheepdogProtocolError, SD_HEADER_SIZE, SD_FLAG_CMD_WRITE, SD_INODE_SIZE,
  SD_VDI_BITMAP_SIZE, SD_RES_INVALID_PARMS, decodeRequest, encodeReply, type SheepdogRequestHeader,
} from '@tsemu/block-sheepdog';
import { SheepNode, type SheepNodeOptions, type NodeReply } from './sheep-node.js';
import { RequestLog, type LoggedRequest } from './request-log.js';
import { readInPlace } from './read-in-place.js';
import { takePayload } from './payload-pool.js';

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

/**
 * Zeros for the tail of read replies (see ObjectStore.readHead). Never
 * written to: untouched, its pages all map the kernel's zero page, so the
 * socket copies 4 MiB of zeros from one cache-hot page.
 */
const ZEROS = Buffer.alloc(MAX_REQUEST_PAYLOAD);

/** Backpressure: stop reading a client with this many requests queued or this many reply bytes unsent. */
const MAX_QUEUED_PER_CONNECTION = 64;
const MAX_UNSENT_REPLY_BYTES = 16 << 20;

/** One parsed request on its way through the server. */
interface Job {
  conn: PeerConnection;
  h: SheepdogRequestHeader;
  payload: Buffer | null;
  entry: LoggedRequest;
}

class PeerConnection extends FrameReader {
  private pendingHeader: SheepdogRequestHeader | null = null;
  /** Requests parsed but not yet answered. */
  queued = 0;
  /** Parsed requests waiting for this client to read its replies (not yet in the server's queue). */
  readonly backlog: Job[] = [];
  /** Replies of this tick are being gathered into one writev. */
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };
  /** Requests of this connection in the server's queue. */
  running = 0;

  constructor(readonly server: SheepdogTestServer, readonly socket: Socket, readonly num: number) {
    super();
  }

  /** Every request of one read is queued before any runs: they form one pass (and one group commit). */
  override push(chunk: Uint8Array): void {
    this.server.batching++;
    try {
      super.push(chunk);
    } finally {
      this.server.endBatch();
    }
  }

  /** The same for a read that landed in place (readInPlace): one read, one pass. */
  override readDone(n: number): void {
    this.server.batching++;
    try {
      super.readDone(n);
    } finally {
      this.server.endBatch();
    }
  }

  protected beginPayload(header: Buffer): Uint8Array | null {
    const h = decodeRequest(header);
    this.pendingHeader = h;
    if (!(h.flags & SD_FLAG_CMD_WRITE) || h.dataLength === 0) return null;
    if (h.dataLength > MAX_REQUEST_PAYLOAD) throw new SheepdogProtocolError(`request payload of ${h.dataLength} bytes refused`);
    return takePayload(h.dataLength); // filled completely by the frame reader before use
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
    const zeros = r.zeros;
    // Per reply (several may be queued in the socket at once); from the shared pool, encodeReply sets all 48 bytes.
    const header = Buffer.allocUnsafe(SD_HEADER_SIZE);
    encodeReply(header, h.opcode, 0, h.id, (data ? data.length : 0) + zeros, r.result, r.vdiId);
    const s = this.socket;
    if (!this.corked) {
      this.corked = true;
      s.cork();
      process.nextTick(this.uncork);
    }
    s.write(header);
    if (data && data.length) s.write(data);
    if (zeros > 0) s.write(ZEROS.subarray(0, zeros));
    this.updateFlow();
  }
}

export class SheepdogTestServer {
  readonly node: SheepNode;
  readonly log = new RequestLog();
  readonly protocolErrors: string[] = [];
  private server: Server | null = null;
  private readonly conns = new Set<PeerConnection>();
  /** Connections whose requests were read in place (readInPlace worked on this Node), for tests. */
  inPlaceConnections = 0;
  private connCount = 0;
  /** Requests to run, in arrival order (`head` is the next one). */
  private jobs: Array<Job | undefined> = [];
  private head = 0;
  /** A request is waiting on thread-pool work (or on pause()): the loop resumes when it settles. */
  private busy = false;
  private driving = false;
  /** A read is being parsed (PeerConnection.push): its requests are queued, then run together. */
  batching = 0;
  private idleWaiters: Array<() => void> = [];
  /** Replies waiting for the group commit of store writes (see commitPass). */
  private held: Array<[Job, NodeReply]> = [];
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
    // Paused until accept() chose how the socket reads (readInPlace or 'data').
    const server = createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
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
    if (readInPlace(socket, conn.nextBuffer, conn.onRead)) this.inPlaceConnections++;
    else socket.on('data', (chunk) => conn.push(chunk));
    socket.resume();
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
    conn.backlog.push({ conn, h, payload, entry });
    this.pump(conn);
  }

  /** Moves a connection's requests into the server queue while the client keeps up with its replies. */
  private pump(conn: PeerConnection): void {
    let moved = false;
    while (conn.backlog.length > 0 && conn.running < 16 && conn.socket.writableLength < MAX_UNSENT_REPLY_BYTES) {
      conn.running++;
      this.jobs.push(conn.backlog.shift()!);
      moved = true;
    }
    if (moved) this.drive();
  }

  /** Runs queued requests one at a time; synchronous answers go out at once, a promise parks the loop. */
  endBatch(): void {
    if (--this.batching === 0) this.drive();
  }

  private drive(): void {
    // An answer pumps more requests in and calls here again: the running loop picks them up.
    if (this.driving || this.batching > 0) return;
    this.driving = true;
    try {
      this.runJobs();
    } finally {
      this.driving = false;
    }
  }

  private runJobs(): void {
    while (this.runPass()) {
      // a one-object group commit was done synchronously: run what arrived meanwhile
    }
  }

  /** One pass over the queue; true when it ended in a synchronous group commit and should run again. */
  private runPass(): boolean {
    while (!this.busy && this.head < this.jobs.length) {
      if (this.paused) {
        this.busy = true;
        void this.paused.then(this.resumeLoop);
        return false;
      }
      const job = this.jobs[this.head]!;
      this.jobs[this.head++] = undefined;
      let r: NodeReply | Promise<NodeReply>;
      if (!(job.h.flags & SD_FLAG_CMD_WRITE) && job.h.dataLength > MAX_REQUEST_PAYLOAD) {
        r = { result: SD_RES_INVALID_PARMS, data: null, vdiId: 0, zeros: 0 };
      } else {
        try {
          r = this.node.handle(job.h, job.payload);
        } catch (err) {
          r = this.handlerFailed(err);
        }
      }
      if (r instanceof Promise) {
        this.busy = true;
        r.then((reply) => this.finishOrHold(job, reply), (err) => this.finishOrHold(job, this.handlerFailed(err))).then(this.resumeLoop, this.resumeLoop);
        return false;
      }
      this.finishOrHold(job, r);
    }
    if (!this.busy && (this.held.length > 0 || this.node.store.commitsPending)) {
      let failed: unknown = null;
      let done: boolean;
      try {
        done = this.node.store.commitPendingSync();
      } catch (err) {
        failed = err;
        done = true;
      }
      if (!done) {
        this.commitPass();
        return false;
      }
      const held = this.held;
      this.held = [];
      for (const [job, r] of held) this.finish(job, failed === null ? r : this.handlerFailed(failed));
      return true;
    }
    if (this.head > 1024 && this.head < this.jobs.length) {
      this.jobs = this.jobs.slice(this.head); // parked on a promise with a long queue: drop the done slots
      this.head = 0;
    }
    if (this.head === this.jobs.length) {
      this.jobs = [];
      this.head = 0;
      if (!this.busy && this.idleWaiters.length) for (const w of this.idleWaiters.splice(0)) w();
    }
    return false;
  }

  /** Once a store write awaits its commit, this reply and every later one wait for it too. */
  private finishOrHold(job: Job, r: NodeReply): void {
    if (this.held.length > 0 || this.node.store.commitsPending) this.held.push([job, r]);
    else this.finish(job, r);
  }

  /** The group commit: fdatasync what this pass wrote to the store, then release the held replies (EIO if it failed). */
  private commitPass(): void {
    this.busy = true;
    const held = this.held;
    this.held = [];
    const release = (failed: unknown): void => {
      for (const [job, r] of held) this.finish(job, failed === null ? r : this.handlerFailed(failed));
    };
    this.node.store.commitPending().then(() => release(null), release).then(this.resumeLoop, this.resumeLoop);
  }

  private readonly resumeLoop = (): void => {
    this.busy = false;
    this.drive();
  };

  private handlerFailed(err: unknown): NodeReply {
    this.protocolErrors.push(`handler failed: ${(err as Error).message}`);
    return { result: 0x03, data: null, vdiId: 0, zeros: 0 };
  }

  private finish(job: Job, r: NodeReply): void {
    job.entry.result = r.result;
    const jitter = this.opts.replyJitterMs ?? 0;
    if (jitter > 0) setTimeout(() => this.answer(job.conn, job.h, r), this.nextRandom() % (jitter + 1));
    else this.answer(job.conn, job.h, r);
  }

  private answer(conn: PeerConnection, h: SheepdogRequestHeader, r: NodeReply): void {
    conn.reply(h, r);
    conn.running--;
    this.pump(conn);
  }

  /** Resolves once no request is queued or running. */
  private idle(): Promise<void> {
    if (!this.busy && this.head === this.jobs.length) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
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
    await this.idle();
    if (opts.crash) await this.node.loseCache();
    else await this.node.flushAll();
    this.node.closeStore();
  }
}
