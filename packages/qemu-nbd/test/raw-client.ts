// A deliberately dumb NBD client for hostile tests: it sends exactly the
// bytes it is told to and lets the test read the raw answers.
import { connect, type Socket } from 'node:net';
import {
  ByteQueue, NBD_FLAG_C_FIXED_NEWSTYLE, NBD_FLAG_C_NO_ZEROES, NbdInfo, NbdOption, NbdOptionReply, NbdOptionReplyParser,
  encodeInfoRequest, encodeMetaContextRequest, encodeOption, writeRequestHeader, type NbdOptionReplyMessage,
} from '@tsemu/block-nbd';

export class RawSession {
  readonly queue = new ByteQueue();
  private readonly socket: Socket;
  closed = false;
  readonly closedPromise: Promise<void>;
  private wake: (() => void) | null = null;
  private readonly replies = new NbdOptionReplyParser();

  private constructor(where: string | { host: string; port: number }) {
    this.socket = typeof where === 'string' ? connect({ path: where }) : connect(where);
    this.socket.on('data', (d: Uint8Array) => {
      this.queue.push(d);
      this.poke();
    });
    this.socket.on('error', () => {});
    this.closedPromise = new Promise((resolve) => this.socket.once('close', () => {
      this.closed = true;
      this.poke();
      resolve();
    }));
  }

  static async open(where: string | { host: string; port: number }): Promise<RawSession> {
    const s = new RawSession(where);
    await new Promise<void>((resolve, reject) => {
      s.socket.once('connect', resolve);
      s.socket.once('error', reject);
    });
    return s;
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  send(bytes: Uint8Array): void {
    if (!this.closed) this.socket.write(bytes);
  }

  /** Waits until `n` bytes are queued; false if the server closed first (or timeout). */
  async waitBytes(n: number, ms = 5000): Promise<boolean> {
    const end = Date.now() + ms;
    while (this.queue.length < n) {
      if (this.closed || Date.now() > end) return false;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
    }
    return true;
  }

  take(n: number): Uint8Array {
    const b = new Uint8Array(n);
    this.queue.read(b, 0, n);
    return b;
  }

  /** Greeting + client flags. */
  async start(): Promise<void> {
    if (!(await this.waitBytes(18))) throw new Error('no greeting');
    this.take(18);
    const flags = new Uint8Array(4);
    new DataView(flags.buffer).setUint32(0, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
    this.send(flags);
  }

  async optionReply(): Promise<NbdOptionReplyMessage | undefined> {
    for (;;) {
      const r = this.replies.next(this.queue);
      if (r) return r;
      if (!(await this.waitBytes(this.queue.length + 1))) return undefined;
    }
  }

  /** Sends an option and collects replies up to the final ACK or error. */
  async option(option: number, data?: Uint8Array): Promise<NbdOptionReplyMessage[]> {
    this.send(encodeOption(option, data));
    const out: NbdOptionReplyMessage[] = [];
    for (;;) {
      const r = await this.optionReply();
      if (!r) return out;
      out.push(r);
      if (r.type === NbdOptionReply.ACK || r.type >= 0x80000000) return out;
    }
  }

  /** Full negotiation into transmission. */
  async go(exportName: string, structured = false): Promise<void> {
    await this.start();
    if (structured) {
      await this.option(NbdOption.STRUCTURED_REPLY);
      await this.option(NbdOption.SET_META_CONTEXT, encodeMetaContextRequest({ name: exportName, queries: ['base:allocation'] }));
    }
    const r = await this.option(NbdOption.GO, encodeInfoRequest({ name: exportName, requests: [NbdInfo.BLOCK_SIZE] }));
    if (r[r.length - 1]?.type !== NbdOptionReply.ACK) throw new Error('GO failed');
  }

  request(type: number, flags: number, handle: number, offset: number | bigint, length: number, payload?: Uint8Array): void {
    const h = new Uint8Array(28);
    const v = new DataView(h.buffer);
    writeRequestHeader(v, flags, type, 0, handle, 0, length);
    v.setBigUint64(16, BigInt(offset));
    this.send(h);
    if (payload) this.send(payload);
  }

  /** One simple reply: [error, handle], or undefined if the server closed. */
  async simpleReply(): Promise<{ error: number; handle: number } | undefined> {
    if (!(await this.waitBytes(16))) return undefined;
    const b = this.take(16);
    const v = new DataView(b.buffer);
    if (v.getUint32(0) !== 0x67446698) throw new Error('not a simple reply');
    return { error: v.getUint32(4), handle: v.getUint32(12) };
  }

  /** Stops reading from the socket (a client that never reads replies). */
  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  /** Structured chunks up to and including the DONE one: [type, offset-or-error, length] per chunk, and the data bytes. */
  async structuredReply(): Promise<{ chunks: [number, number, number][]; data: Map<number, Uint8Array>; bodies: Uint8Array[] } | undefined> {
    const chunks: [number, number, number][] = [];
    const data = new Map<number, Uint8Array>();
    /** Every chunk's payload, in order. */
    const bodies: Uint8Array[] = [];
    for (;;) {
      if (!(await this.waitBytes(20))) return undefined;
      const h = new DataView(this.take(20).buffer);
      if (h.getUint32(0) !== 0x668e33ef) throw new Error('not a structured reply');
      const flags = h.getUint16(4);
      const type = h.getUint16(6);
      const len = h.getUint32(16);
      if (!(await this.waitBytes(len))) return undefined;
      const body = this.take(len);
      bodies.push(body);
      const v = new DataView(body.buffer);
      if (type === 1) {
        const off = Number(v.getBigUint64(0));
        chunks.push([type, off, len - 8]);
        data.set(off, body.subarray(8));
      } else if (type === 2) {
        chunks.push([type, Number(v.getBigUint64(0)), v.getUint32(8)]);
      } else {
        chunks.push([type, len >= 4 ? v.getUint32(0) : 0, len]);
      }
      if (flags & 1) return { chunks, data, bodies };
    }
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
