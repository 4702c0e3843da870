// Incremental parser for "48-byte header + optional payload" frames, used for
// replies by the client and for requests by the test peer. An explicit state
// machine: bytes may arrive split anywhere, and the payload size the peer
// claims is never trusted — the subclass decides, from the header, where the
// payload goes and may refuse it (throw), which fails the reader for good.
//
// Two ways in: push(chunk) for 'data' events, or readBuffer()/readDone(n)
// for a socket's `onread` option, where the kernel copies straight into a
// big payload's unfilled part (no chunk allocated per read, no copy in JS:
// 64 MiB as 4 MiB messages crossed loopback TCP in 12 ms instead of 40 that
// way); headers and small payloads land in one reused staging buffer and
// are parsed from there.
import { SD_HEADER_SIZE } from './constants.js';

/** The staging buffer for onread: one read can carry many small frames. */
const STAGING_SIZE = 64 * 1024;

export class SheepdogProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SheepdogProtocolError';
  }
}

const enum State {
  Header,
  Payload,
  Failed,
}

export abstract class FrameReader {
  /** Reused for every frame: frameDone must copy out what it keeps. */
  protected readonly header = Buffer.alloc(SD_HEADER_SIZE);
  private state = State.Header;
  private headerFill = 0;
  private payload: Uint8Array | null = null;
  private payloadFill = 0;
  /** onread: the staging buffer, and whether the last readBuffer() pointed into the payload. */
  private staging: Buffer | null = null;
  private direct = false;

  /**
   * The header is complete. Return the buffer the payload goes into (exactly
   * its size), or null when no payload follows. Throw to reject the frame.
   */
  protected abstract beginPayload(header: Buffer): Uint8Array | null;
  /** A whole frame arrived. `payload` is what beginPayload returned. */
  protected abstract frameDone(header: Buffer, payload: Uint8Array | null): void;
  /** The stream is unusable (protocol error); no more frames will be delivered. */
  protected abstract readerFailed(err: SheepdogProtocolError): void;

  get failed(): boolean {
    return this.state === State.Failed;
  }

  /** True between frames: a connection closing here lost no partial frame. */
  get idle(): boolean {
    return this.state === State.Header && this.headerFill === 0;
  }

  /** readBuffer / readDone bound once, for net's `onread: { buffer, callback }`. */
  readonly nextBuffer = (): Uint8Array => this.readBuffer();
  readonly onRead = (n: number): boolean => {
    this.readDone(n);
    return true; // false would stop reading
  };

  /**
   * Where the next read should land (the `buffer` function of net's onread):
   * the rest of a payload when at least a staging buffer's worth is missing,
   * else the staging buffer. Call readDone(n) after each read.
   */
  readBuffer(): Uint8Array {
    if (this.state === State.Payload) {
      const target = this.payload!;
      if (target.length - this.payloadFill >= STAGING_SIZE) {
        this.direct = true;
        return target.subarray(this.payloadFill);
      }
    }
    this.direct = false;
    return (this.staging ??= Buffer.allocUnsafe(STAGING_SIZE));
  }

  /** `n` bytes arrived in the buffer readBuffer() returned last. */
  readDone(n: number): void {
    if (!this.direct) {
      this.consume(this.staging!, n);
      return;
    }
    if (this.state !== State.Payload) return; // failed meanwhile: the bytes are dropped
    this.payloadFill += n;
    const target = this.payload!;
    if (this.payloadFill === target.length) {
      this.payload = null;
      this.state = State.Header;
      this.deliver(target);
    }
  }

  push(chunk: Uint8Array): void {
    this.consume(chunk, chunk.length);
  }

  /** Parses chunk[0, end). */
  private consume(chunk: Uint8Array, end: number): void {
    let at = 0;
    while (at < end && this.state !== State.Failed) {
      if (this.state === State.Header) {
        const n = Math.min(SD_HEADER_SIZE - this.headerFill, end - at);
        this.header.set(chunk.subarray(at, at + n), this.headerFill);
        this.headerFill += n;
        at += n;
        if (this.headerFill < SD_HEADER_SIZE) return;
        this.headerFill = 0;
        let target: Uint8Array | null;
        try {
          target = this.beginPayload(this.header);
        } catch (err) {
          this.fail(err);
          return;
        }
        if (target === null || target.length === 0) {
          this.deliver(target);
        } else {
          this.payload = target;
          this.payloadFill = 0;
          this.state = State.Payload;
        }
      } else {
        const target = this.payload!;
        const n = Math.min(target.length - this.payloadFill, end - at);
        target.set(chunk.subarray(at, at + n), this.payloadFill);
        this.payloadFill += n;
        at += n;
        if (this.payloadFill === target.length) {
          this.payload = null;
          this.state = State.Header;
          this.deliver(target);
        }
      }
    }
  }

  private deliver(payload: Uint8Array | null): void {
    try {
      this.frameDone(this.header, payload);
    } catch (err) {
      this.fail(err);
    }
  }

  protected fail(err: unknown): void {
    if (this.state === State.Failed) return;
    this.state = State.Failed;
    this.payload = null;
    this.readerFailed(err instanceof SheepdogProtocolError ? err : new SheepdogProtocolError(String((err as Error)?.message ?? err)));
  }
}
