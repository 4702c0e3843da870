// The client half of STARTTLS: wrap the plain socket in node:tls with the
// credentials' CA (and client certificate, when present), checking the
// server's certificate against the host name as QEMU does.
import { createRequire } from 'node:module';
import { isIP, type Socket } from 'node:net';
import type { PeerCertificate } from 'node:tls';
import { BlockError } from '@tsemu/block-core';
import { loadTlsMaterial, type NbdTlsCredentials } from '../tls-creds.js';

export interface NbdClientTls {
  creds: NbdTlsCredentials;
  /** Name the server certificate must carry; undefined skips the name check (unix sockets without tls-hostname). */
  hostname?: string;
}

// node:tls (and crypto behind it) costs a few ms at every tool's start-up; load it at the first STARTTLS.
let tlsModule: typeof import('node:tls') | undefined;
const nodeTls = (): typeof import('node:tls') => (tlsModule ??= createRequire(import.meta.url)('node:tls') as typeof import('node:tls'));

export function startClientTls(socket: Socket, tls: NbdClientTls): Promise<Socket> {
  const { ca, cert, key } = loadTlsMaterial(tls.creds);
  const { checkServerIdentity, connect: tlsConnect } = nodeTls();
  const host = tls.hostname;
  return new Promise((resolve, reject) => {
    const secure = tlsConnect({
      socket,
      ca,
      cert,
      key,
      servername: host !== undefined && isIP(host) === 0 ? host : undefined,
      rejectUnauthorized: tls.creds.verifyPeer,
      checkServerIdentity: (_name: string, peer: PeerCertificate) => (host === undefined ? undefined : checkServerIdentity(host, peer)),
    });
    const onError = (err: Error): void => {
      secure.destroy();
      reject(new BlockError('EIO', `TLS handshake failed: ${err.message}`));
    };
    secure.once('error', onError);
    secure.once('secureConnect', () => {
      secure.off('error', onError);
      resolve(secure);
    });
  });
}
