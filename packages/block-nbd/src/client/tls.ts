// The client half of STARTTLS: wrap the plain socket in node:tls. x509: the
// credentials' CA (and client certificate, when present), checking the
// server's certificate against the host name as QEMU does. PSK: the
// object's username and key, no certificates at all.
import { createRequire } from 'node:module';
import { isIP, type Socket } from 'node:net';
import type { ConnectionOptions, PeerCertificate } from 'node:tls';
import { BlockError } from '@tsemu/block-core';
import { loadTlsMaterial, type NbdTlsCredentials } from '../tls-creds.js';
import { PSK_CIPHERS } from '../psk-keys.js';
import { tlsHandshakeError } from '../tls-errors.js';

export interface NbdClientTls {
  creds: NbdTlsCredentials;
  /** Name the server certificate must carry; undefined skips the name check (unix sockets without tls-hostname). */
  hostname?: string;
}

// node:tls (and crypto behind it) costs a few ms at every tool's start-up; load it at the first STARTTLS.
let tlsModule: typeof import('node:tls') | undefined;
const nodeTls = (): typeof import('node:tls') => (tlsModule ??= createRequire(import.meta.url)('node:tls') as typeof import('node:tls'));

function x509Options(tls: NbdClientTls): ConnectionOptions {
  const { ca, cert, key } = loadTlsMaterial(tls.creds);
  const { checkServerIdentity } = nodeTls();
  const host = tls.hostname;
  return {
    ca,
    cert,
    key,
    servername: host !== undefined && isIP(host) === 0 ? host : undefined,
    rejectUnauthorized: tls.creds.verifyPeer,
    checkServerIdentity: (_name: string, peer: PeerCertificate) => (host === undefined ? undefined : checkServerIdentity(host, peer)),
  };
}

function pskOptions(creds: NbdTlsCredentials): ConnectionOptions {
  const identity = creds.username!;
  const psk = creds.pskKey!;
  return {
    ciphers: PSK_CIPHERS,
    pskCallback: () => ({ identity, psk }),
    // No certificate is involved: nothing to check the host name against.
    checkServerIdentity: () => undefined,
  };
}

export function startClientTls(socket: Socket, tls: NbdClientTls): Promise<Socket> {
  const options = tls.creds.type === 'psk' ? pskOptions(tls.creds) : x509Options(tls);
  return new Promise((resolve, reject) => {
    const secure = nodeTls().connect({ socket, ...options });
    const onError = (err: Error): void => {
      secure.destroy();
      reject(new BlockError('EIO', `TLS handshake failed: ${tlsHandshakeError(err)}`));
    };
    secure.once('error', onError);
    secure.once('secureConnect', () => {
      secure.off('error', onError);
      resolve(secure);
    });
  });
}
