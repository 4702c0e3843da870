// Where an NBD server is, and how to reach it. QEMU's error wording for a
// failed connect is kept: "Failed to connect to '<host>:<port>': <strerror>".
import { connect, type Socket } from 'node:net';
import { BlockError, fromNodeError } from '@tsemu/block-core';

export type NbdServerAddress =
  | { type: 'inet'; host: string; port: number }
  | { type: 'unix'; path: string };

export function describeAddress(a: NbdServerAddress): string {
  if (a.type === 'unix') return a.path;
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** Opens the socket; rejects with QEMU's "Failed to connect to ..." message. */
export function connectSocket(address: NbdServerAddress): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = address.type === 'unix' ? connect({ path: address.path }) : connect({ host: address.host, port: address.port });
    const onError = (err: Error): void => {
      socket.destroy();
      const e = fromNodeError(err);
      const text = (err as { code?: string }).code === 'ENOTFOUND'
        ? `address resolution failed for ${describeAddress(address)}: Name or service not known`
        : `Failed to connect to '${describeAddress(address)}': ${e.message}`;
      reject(new BlockError(e.code, text));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}
