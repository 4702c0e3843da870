// An NBD client connection in the transmission phase: up to 16 requests in
// flight (QEMU's MAX_NBD_REQUESTS), matched to replies by handle. Each slot
// owns a preallocated request header; the handle is (generation, slot) so a
// stale or forged reply is recognised.
import type { Socket } from 'node:net';
import { BlockError } from '@tsemu/block-core';
import type { ByteQueue } from '../byte-queue.js';
import {
  NBD_CMD_FLAG_REQ_ONE, NBD_FLAG_SEND_FLUSH, NbdCommand, REQUEST_HEADER_BYTES,
} from '../constants.js';
import { nbdToErrno } from '../errno.js';
import type { NbdExportInfo } from '../option-codec.js';
import { NbdReplyParser, type NbdInflight } from '../reply-codec.js';
import { writeRequestHeader } from '../request-codec.js';
import { NbdInvalidOption, NbdProtocolError } from '../wire.js';
import { connectSocket, type NbdServerAddress } from './address.js';
import { HandshakeChannel } from './channel.js';
import { listServerExports, negotiateExport, type ListedExport } from './negotiate.js';
import type { NbdClientTls } from './tls.js';

export const MAX_INFLIGHT = 16;

class ClientSlot implements NbdInflight {
  type = 0;
  offset = 0;
  length = 0;
  iov: Uint8Array[] | null = null;
  error = 0;
  errorMessage = '';
  statusContext = 0;
  statusLength = 0;
  statusFlags = 0;
  generation = 0;
  busy = false;
  readonly header = new Uint8Array(REQUEST_HEADER_BYTES);
  readonly view = new DataView(this.header.buffer);
  resolve: ((slot: ClientSlot) => void) | null = null;
  reject: ((err: Error) => void) | null = null;
  /** Promise executor made once per slot, so issuing a request allocates no closure. */
  readonly executor = (resolve: (slot: ClientSlot) => void, reject: (err: Error) => void): void => {
    this.resolve = resolve;
    this.reject = reject;
  };

  constructor(readonly index: number) {}
}

export interface NbdBlockStatusAnswer {
  length: number;
  /** base:allocation flags (NBD_STATE_HOLE | NBD_STATE_ZERO). */
  flags: number;
}

export class NbdClient {
  readonly info: NbdExportInfo;
  readonly structured: boolean;
  readonly allocationContext: number;
  private readonly slots: ClientSlot[] = [];
  private readonly free: ClientSlot[] = [];
  private readonly slotWaiters: (() => void)[] = [];
  private readonly parser: NbdReplyParser;
  private dead: BlockError | null = null;
  private closing = false;
  private idleWaiter: (() => void) | null = null;

  private constructor(private readonly socket: Socket, private readonly queue: ByteQueue, negotiated: Awaited<ReturnType<typeof negotiateExport>>) {
    this.info = negotiated.info;
    this.structured = negotiated.structured;
    this.allocationContext = negotiated.allocationContext;
    for (let i = 0; i < MAX_INFLIGHT; i++) {
      const slot = new ClientSlot(i);
      this.slots.push(slot);
      this.free.push(slot);
    }
    this.parser = new NbdReplyParser((hi, lo) => {
      const slot = this.slots[lo];
      return slot !== undefined && slot.busy && slot.generation === hi ? slot : undefined;
    });
    this.parser.structured = this.structured;
    socket.on('data', (chunk: Uint8Array) => {
      this.queue.push(chunk);
      this.drainReplies();
    });
    socket.on('error', () => this.die(new BlockError('EIO')));
    socket.on('close', () => this.die(new BlockError('EIO')));
    if (queue.length > 0) this.drainReplies();
  }

  /** Connects and negotiates `exportName`. */
  static async connect(address: NbdServerAddress, exportName: string, tls?: NbdClientTls): Promise<NbdClient> {
    const socket = await connectSocket(address);
    const ch = new HandshakeChannel(socket);
    try {
      const negotiated = await negotiateExport(ch, exportName, tls);
      // After STARTTLS the channel holds the TLS socket.
      return new NbdClient(ch.socket, ch.detach(), negotiated);
    } catch (err) {
      ch.socket.destroy();
      socket.destroy();
      if (err instanceof NbdProtocolError || err instanceof NbdInvalidOption) throw protocolFailure(err);
      throw err;
    }
  }

  /** Lists a server's exports (qemu-nbd -L, nbdinfo --list). */
  static async list(address: NbdServerAddress, tls?: NbdClientTls): Promise<ListedExport[]> {
    const socket = await connectSocket(address);
    const ch = new HandshakeChannel(socket);
    try {
      return await listServerExports(ch, tls);
    } catch (err) {
      if (err instanceof NbdProtocolError || err instanceof NbdInvalidOption) throw protocolFailure(err);
      throw err;
    } finally {
      ch.detach();
      ch.socket.destroy();
      socket.destroy();
    }
  }

  get isAlive(): boolean {
    return this.dead === null;
  }

  private drainReplies(): void {
    try {
      for (;;) {
        const done = this.parser.next(this.queue) as ClientSlot | undefined;
        if (done === undefined) return;
        this.complete(done);
      }
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      this.die(new BlockError('EIO', `NBD protocol error: ${msg}`));
      this.socket.destroy();
    }
  }

  private complete(slot: ClientSlot): void {
    const { resolve, reject } = slot;
    const error = slot.error;
    slot.resolve = slot.reject = null;
    // strerror text, as QEMU's client reports it (the server's own message stays in slot.errorMessage for debugging).
    if (error !== 0) reject!(new BlockError(nbdToErrno(error)));
    else resolve!(slot);
  }

  /** The server is gone: every waiting and future request fails with EIO. */
  private die(err: BlockError): void {
    if (this.dead) return;
    this.dead = err;
    for (const slot of this.slots) {
      if (slot.busy && slot.reject) {
        const reject = slot.reject;
        slot.resolve = slot.reject = null;
        reject(err);
      }
    }
    for (const w of this.slotWaiters.splice(0)) w();
    this.idleWaiter?.();
  }

  private async acquire(): Promise<ClientSlot> {
    for (;;) {
      if (this.dead) throw this.dead;
      const slot = this.free.pop();
      if (slot) return slot;
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    }
  }

  private release(slot: ClientSlot): void {
    slot.busy = false;
    slot.iov = null;
    this.free.push(slot);
    this.slotWaiters.shift()?.();
    if (this.idleWaiter && this.free.length === MAX_INFLIGHT) this.idleWaiter();
  }

  read(offset: number, length: number, iov: Uint8Array[], flags = 0): Promise<void> {
    return this.runOrRelease(NbdCommand.READ, flags, offset, length, iov, null);
  }

  write(offset: number, length: number, iov: Uint8Array[], flags = 0): Promise<void> {
    return this.runOrRelease(NbdCommand.WRITE, flags, offset, length, null, iov);
  }

  flush(): Promise<void> {
    if ((this.info.flags & NBD_FLAG_SEND_FLUSH) === 0) return Promise.resolve();
    return this.runOrRelease(NbdCommand.FLUSH, 0, 0, 0, null, null);
  }

  trim(offset: number, length: number, flags = 0): Promise<void> {
    return this.runOrRelease(NbdCommand.TRIM, flags, offset, length, null, null);
  }

  writeZeroes(offset: number, length: number, flags = 0): Promise<void> {
    return this.runOrRelease(NbdCommand.WRITE_ZEROES, flags, offset, length, null, null);
  }

  cache(offset: number, length: number): Promise<void> {
    return this.runOrRelease(NbdCommand.CACHE, 0, offset, length, null, null);
  }

  /** base:allocation status of the extent at `offset` (REQ_ONE); undefined when the context was not negotiated. */
  async blockStatus(offset: number, length: number): Promise<NbdBlockStatusAnswer | undefined> {
    if (this.allocationContext < 0) return undefined;
    const slot = await this.requestSlot(NbdCommand.BLOCK_STATUS, NBD_CMD_FLAG_REQ_ONE, offset, length);
    try {
      if (slot.statusLength === 0) throw new BlockError('EIO', 'NBD server sent no block status for the requested range');
      return { length: Math.min(slot.statusLength, length), flags: slot.statusFlags };
    } finally {
      this.release(slot);
    }
  }

  private async requestSlot(type: number, flags: number, offset: number, length: number): Promise<ClientSlot> {
    const slot = await this.acquire();
    try {
      return await this.requestWith(slot, type, flags, offset, length, null, null);
    } catch (err) {
      this.release(slot);
      throw err;
    }
  }

  private async runOrRelease(type: number, flags: number, offset: number, length: number, iov: Uint8Array[] | null, payload: Uint8Array[] | null): Promise<void> {
    const slot = await this.acquire();
    try {
      await this.requestWith(slot, type, flags, offset, length, iov, payload);
    } finally {
      this.release(slot);
    }
  }

  private requestWith(
    slot: ClientSlot, type: number, flags: number, offset: number, length: number, iov: Uint8Array[] | null, payload: Uint8Array[] | null,
  ): Promise<ClientSlot> {
    if (this.dead) return Promise.reject(this.dead);
    slot.busy = true;
    slot.generation = (slot.generation + 1) >>> 0;
    slot.type = type;
    slot.offset = offset;
    slot.length = length;
    slot.iov = iov;
    slot.error = 0;
    slot.errorMessage = '';
    slot.statusContext = this.allocationContext;
    slot.statusLength = 0;
    slot.statusFlags = 0;
    writeRequestHeader(slot.view, flags, type, slot.generation, slot.index, offset, length);
    const done = new Promise<ClientSlot>(slot.executor);
    const socket = this.socket;
    socket.cork();
    socket.write(slot.header);
    if (payload) for (let i = 0; i < payload.length; i++) socket.write(payload[i]!);
    socket.uncork();
    return done;
  }

  /** Sends NBD_CMD_DISC once the requests in flight are answered, then closes. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (!this.dead) {
      while (this.free.length < MAX_INFLIGHT && !this.dead) await new Promise<void>((r) => (this.idleWaiter = r));
      this.idleWaiter = null;
    }
    if (!this.dead) {
      const header = new Uint8Array(REQUEST_HEADER_BYTES);
      writeRequestHeader(new DataView(header.buffer), 0, NbdCommand.DISC, 0, 0, 0, 0);
      this.dead = new BlockError('EIO', 'NBD connection closed');
      await new Promise<void>((resolve) => this.socket.end(header, resolve));
    }
    this.socket.destroy();
  }
}

/**
 * A server's negotiation the client cannot make sense of: an error in the
 * block layer's terms (a malformed option reply, e.g. an NBD_INFO shorter than
 * its type, throws the option decoder's NbdInvalidOption: found by
 * test/hostile-server.test.ts).
 */
function protocolFailure(err: Error): BlockError {
  return new BlockError('EIO', err instanceof NbdInvalidOption ? `Invalid reply from the server: ${err.message}` : err.message);
}
