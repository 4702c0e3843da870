// Opening a socket to the daemon (TCP with TCP_NODELAY, or unix).
import { connect, type Socket } from 'node:net';
import { describeAddress, type SheepdogAddress } from './location.js';
import { sdTransportError } from './errors.js';

export function connectSheep(address: SheepdogAddress): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = 'path' in address ? connect(address.path) : connect(address.port, address.host);
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
