// What qemu-nbd checks once a client's TLS handshake is done. x509 with
// verify-peer: the client must have sent a certificate the CA signed, and
// with --tls-authz its distinguished name, written as GnuTLS writes it
// (RDNs in certificate order, comma-separated, RFC 4514 escapes), must be
// allowed. PSK, or verify-peer=off: no check at all, not even --tls-authz
// (qemu-nbd 7.2 behaves so; tested against it).
import type { TLSSocket } from 'node:tls';
import type { NbdAuthz } from './authz.js';

/** --tls-authz: the id, and the object if one with that id exists (qemu looks it up per client). */
export interface TlsAuthzRef {
  id: string;
  authz?: NbdAuthz;
}

/** OpenSSL's short attribute names where GnuTLS prints another one. */
const GNUTLS_NAMES: Record<string, string> = { emailAddress: 'EMAIL', GN: 'givenName', SN: 'surName' };

/** The subject DN as GnuTLS formats it, from Node's one-RDN-per-line rendering (already RFC 4514-escaped). */
export function gnutlsDn(subjectLines: string): string {
  return subjectLines.split('\n').map((rdn) => {
    const eq = rdn.indexOf('=');
    const name = eq < 0 ? rdn : rdn.slice(0, eq);
    return (GNUTLS_NAMES[name] ?? name) + (eq < 0 ? '' : rdn.slice(eq));
  }).join(',');
}

/** null when the client may go on; else qemu-nbd's reason for dropping it. */
export function checkTlsPeer(secure: TLSSocket, authz: TlsAuthzRef | undefined): string | null {
  const cert = secure.getPeerX509Certificate();
  if (cert === undefined) return 'Verify failed: No certificate was found.';
  const verifyError = chainError(secure);
  if (verifyError !== null) return untrustedReason(verifyError);
  if (authz === undefined) return null;
  if (authz.authz === undefined) return `Cannot find QAuthZ object ID ${authz.id}`;
  const dn = gnutlsDn(cert.subject);
  return authz.authz.isAllowed(dn) ? null : `TLS x509 authz check for ${dn} is denied`;
}

/**
 * OpenSSL's verdict on the client's chain against the CA. tls.Server turns
 * it into `authorized`, but not for a TLSSocket made over an accepted
 * socket (STARTTLS), so ask the handle as tls.Server does; no answer counts
 * as a failure.
 */
function chainError(secure: TLSSocket): Error | null {
  const handle = (secure as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  if (typeof handle?.verifyError !== 'function') return new Error('no verification result');
  return handle.verifyError();
}

/** GnuTLS's words for OpenSSL's verification failures (the common ones). */
function untrustedReason(err: Error): string {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'CERT_HAS_EXPIRED') return 'The certificate has expired';
  if (code === 'CERT_NOT_YET_VALID') return 'The certificate is not yet activated';
  if (code === 'CERT_REVOKED') return 'The certificate has been revoked';
  return "The certificate hasn't got a known issuer";
}
