// The client half of STARTTLS: wrap the plain socket in node:tls. x509: the
// credentials' CA (and client certificate, when present), checking the
// server's certificate against the host name as QEMU does. PSK: the
// object's username and key, no certificates at all.
import { createRequire } from 'node:module';
import { isIP, type Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
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
  const host = tls.hostname;
  return {
    ca,
    cert,
    key,
    servername: host !== undefined && isIP(host) === 0 ? host : undefined,
    // Checked after the handshake instead (verifyX509Peer), to fail with QEMU's messages.
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
  };
}

// OpenSSL's verdicts that GnuTLS words as "hasn't got a known issuer".
const UNKNOWN_ISSUER = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT',
]);

/** verify-peer=on: the server's certificate must chain to our CA and carry the host name (QEMU's messages, no prefix). */
function verifyX509Peer(secure: TLSSocket, tls: NbdClientTls): BlockError | undefined {
  if (!tls.creds.verifyPeer) return undefined;
  if (!secure.authorized) {
    const code = String(secure.authorizationError ?? '');
    return new BlockError('EIO', UNKNOWN_ISSUER.has(code) ? "The certificate hasn't got a known issuer" : `The certificate is not trusted: ${code}`);
  }
  const host = tls.hostname;
  if (host !== undefined && nodeTls().checkServerIdentity(host, secure.getPeerCertificate()) !== undefined) {
    return new BlockError('EIO', `Certificate does not match the hostname ${host}`);
  }
  return undefined;
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
      const refused = tls.creds.type === 'psk' ? undefined : verifyX509Peer(secure, tls);
      if (refused) {
        secure.destroy();
        reject(refused);
      } else resolve(secure);
    });
  });
}
