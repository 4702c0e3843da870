// The handshake is a strict question-and-answer exchange, so it is written
// as sequential code over a socket: `until(parse)` waits until the parser
// can produce a whole message from the byte queue.
import type { Socket } from 'node:net';
import { BlockError } from '@tsemu/block-core';
import { ByteQueue } from '../byte-queue.js';

const TLS_DROPPED = 'Failed to read option reply: Cannot read from TLS channel: Software caused connection abort';

export class HandshakeChannel {
  readonly queue = new ByteQueue();
  private wake: (() => void) | null = null;
  private failure: Error | null = null;
  private readonly onData = (chunk: Uint8Array): void => {
    this.queue.push(chunk);
    this.poke();
  };
  /** Set by upgrade(): after STARTTLS, a server that drops us (e.g. for lacking a client certificate) reads as QEMU words it. */
  private overTls = false;
  private readonly onEnd = (): void => this.fail(new BlockError('EIO', this.overTls
    ? TLS_DROPPED : 'Failed to read initial magic: Unexpected end-of-file before all data were read'));
  private readonly onError = (err: Error): void => this.fail(new BlockError('EIO', this.overTls ? TLS_DROPPED : err.message));

  constructor(public socket: Socket) {
    this.attach(socket);
  }

  private attach(socket: Socket): void {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  /**
   * Switches to a new socket (the TLS layer over the old one, after
   * STARTTLS). Bytes already queued would be plaintext the server sent after
   * its ACK: a protocol violation.
   */
  upgrade(socket: Socket): void {
    if (this.queue.length > 0) throw new BlockError('EIO', 'Unexpected data after STARTTLS');
    this.detach();
    this.overTls = true;
    this.socket = socket;
    this.attach(socket);
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.poke();
  }

  async until<T>(parse: (q: ByteQueue) => T | undefined): Promise<T> {
    for (;;) {
      const value = parse(this.queue);
      if (value !== undefined) return value;
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Stops listening; the transmission phase takes over the socket and the queued bytes. */
  detach(): ByteQueue {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    return this.queue;
  }
}
