// Incremental parser for "48-byte header + optional payload" frames, used for
// replies by the client and for requests by the test peer. An explicit state
// machine: bytes may arrive split anywhere, and the payload size the peer
// claims is never trusted — the subclass decides, from the header, where the
// payload goes and may refuse it (throw), which fails the reader for good.
import { SD_HEADER_SIZE } from './constants.js';

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

  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length && this.state !== State.Failed) {
      if (this.state === State.Header) {
        const n = Math.min(SD_HEADER_SIZE - this.headerFill, chunk.length - at);
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
        const n = Math.min(target.length - this.payloadFill, chunk.length - at);
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
