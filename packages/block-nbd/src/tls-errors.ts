// qemu prints GnuTLS's messages for failed TLS handshakes; node:tls reports
// OpenSSL's. The usual failures in GnuTLS's words, the rest by OpenSSL's
// one-line reason.

/** The reason after "TLS handshake failed: " as qemu words it. */
export function tlsHandshakeError(err: unknown): string {
  if (!(err instanceof Error)) return 'The TLS connection was non-properly terminated.';
  const e = err as Error & { code?: string; reason?: string };
  const code = e.code ?? '';
  if (code === 'ECONNRESET' || code === 'EPIPE' || /socket disconnected|socket hang up/i.test(e.message)) {
    return 'The TLS connection was non-properly terminated.';
  }
  if (/ALERT/.test(code)) return 'A TLS fatal alert has been received.';
  // Unknown PSK identity or wrong key (the binder or Finished does not check out).
  if (/BINDER|DECRYPT|BAD_RECORD_MAC|PSK/.test(code)) return 'An illegal parameter has been received.';
  return e.reason ?? e.message.split('\n')[0]!;
}
