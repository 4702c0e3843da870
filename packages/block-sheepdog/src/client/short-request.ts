// One request on a short-lived socket (connect, send, read the reply, close),
// as QEMU does for VDI lookup/create/release, the inode read at open,
// snapshots and list. The reply payload is bounded by what we asked for.
import type { Socket } from 'node:net';
import { SD_HEADER_SIZE } from '../wire/constants.js';
import { FrameReader, SheepdogProtocolError } from '../wire/frame-reader.js';
import { replyDataLength, replyResult, replyVdiId } from '../wire/header.js';
import { connectSheep } from './socket.js';
import { sdTransportError } from './errors.js';
import type { SheepdogAddress } from './location.js';

export interface ShortReply {
  result: number;
  vdiId: number;
  /** Bytes of `recv` the daemon filled. */
  received: number;
}

class SingleReplyReader extends FrameReader {
  reply: ShortReply | null = null;
  error: SheepdogProtocolError | null = null;
  constructor(private readonly recv: Uint8Array | null, private readonly onDone: () => void) {
    super();
  }
  protected beginPayload(header: Buffer): Uint8Array | null {
    if (this.reply) throw new SheepdogProtocolError('unexpected second reply');
    const len = replyDataLength(header);
    if (len === 0) return null;
    if (!this.recv || len > this.recv.length) {
      throw new SheepdogProtocolError(`reply carries ${len} bytes, at most ${this.recv?.length ?? 0} expected`);
    }
    return this.recv.subarray(0, len);
  }
  protected frameDone(header: Buffer, payload: Uint8Array | null): void {
    this.reply = { result: replyResult(header), vdiId: replyVdiId(header), received: payload?.length ?? 0 };
    this.onDone();
  }
  protected readerFailed(err: SheepdogProtocolError): void {
    this.error = err;
    this.onDone();
  }
}

/** Sends `header` (already encoded) and `payload`; the reply data goes into `recv`. */
export async function shortRequest(
  address: SheepdogAddress, header: Buffer, payload: Uint8Array | null, recv: Uint8Array | null,
): Promise<ShortReply> {
  if (header.length !== SD_HEADER_SIZE) throw new Error('shortRequest: header must be 48 bytes');
  let settle: () => void = () => {};
  const reader = new SingleReplyReader(recv, () => settle());
  const socket: Socket = await connectSheep(address, reader);
  try {
    return await new Promise<ShortReply>((resolve, reject) => {
      settle = (): void => {
        if (reader.error) reject(sdTransportError(`sheepdog protocol error: ${reader.error.message}`));
        else resolve(reader.reply!);
      };
      if (reader.reply || reader.error) settle(); // a hostile peer may answer before we asked
      socket.once('error', (err) => reject(sdTransportError(`sheepdog connection failed: ${err.message}`)));
      socket.once('close', () => reject(sdTransportError('sheepdog closed the connection before replying')));
      socket.cork();
      socket.write(header);
      if (payload && payload.length) socket.write(payload);
      socket.uncork();
    });
  } finally {
    socket.destroy();
  }
}
