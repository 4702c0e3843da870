// Opening a socket to the daemon (TCP with TCP_NODELAY, or unix). Replies
// are read with net's `onread` into the frame reader's buffers (a read
// reply's payload straight into the caller's buffer, no 'data' chunks).
import { connect, type Socket } from 'node:net';
import { describeAddress, type SheepdogAddress } from './location.js';
import { sdTransportError } from './errors.js';
import type { FrameReader } from '../wire/frame-reader.js';

export function connectSheep(address: SheepdogAddress, reader: FrameReader): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const onread = { buffer: reader.nextBuffer, callback: reader.onRead };
    const socket = 'path' in address ? connect({ path: address.path, onread }) : connect({ port: address.port, host: address.host, onread });
    const onError = (err: Error): void => {
      socket.destroy();
      reject(sdTransportError(`Failed to connect socket ${describeAddress(address)}: ${err.message}`));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      if (!('path' in address)) socket.setNoDelay(true);
      resolve(socket);
    });
  });
}
