// keys.psk, the key file of QEMU's tls-creds-psk objects: one `username:key`
// per line, the key in hex. The first line whose name matches wins. Client
// credentials read their key once, when the object is made; a server reads
// the file at each handshake, so edits apply to the next client (as GnuTLS's
// password file does for qemu-nbd).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BlockError } from '@tsemu/block-core';

/** QEMU's identity when a client object names no username. */
export const PSK_DEFAULT_USERNAME = 'qemu';

/** Shortest key GnuTLS accepts for client credentials (shorter ones: "The request is invalid."). */
const MIN_KEY_BYTES = 4;

/**
 * Cipher suites offered with PSK. TLS 1.3 (what GnuTLS and OpenSSL pick)
 * uses the PSK with the default TLS 1.3 suites; TLS 1.2 needs PSK suites
 * named explicitly, as OpenSSL turns them off by default.
 */
export const PSK_CIPHERS = 'ECDHEPSK:DHEPSK:PSK:!NULL';

export function pskFilePath(dir: string): string {
  return join(dir, 'keys.psk');
}

type KeyLookup = { key: Buffer } | { error: 'parse' | 'invalid' } | undefined;

/** The key text for `username` in the file's content, decoded; undefined when no line names it. */
function findKey(content: string, username: string): KeyLookup {
  for (const line of content.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon) !== username) continue;
    const hex = line.slice(colon + 1);
    if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return { error: 'parse' };
    if (hex.length / 2 < MIN_KEY_BYTES) return { error: 'invalid' };
    return { key: Buffer.from(hex, 'hex') };
  }
  return undefined;
}

/** A client's key for `username`, with qemu's messages for a missing file, user or bad key. */
export function loadClientPsk(dir: string, username: string): Buffer {
  const path = pskFilePath(dir);
  let content: string;
  try {
    content = readFileSync(path, 'latin1');
  } catch {
    throw new BlockError('ENOENT', `Unable to access credentials ${path}: No such file or directory`);
  }
  const found = findKey(content, username);
  if (found === undefined) throw new BlockError('EINVAL', `Username ${username} not found in PSK file ${path}`);
  if ('error' in found) {
    const why = found.error === 'parse' ? 'Error in parsing.' : 'The request is invalid.';
    throw new BlockError('EINVAL', `Cannot set PSK client credentials: ${why}`);
  }
  return found.key;
}

/** Server side: the key for a client's identity, or null (unknown, unreadable or malformed) to refuse it. */
export function lookupServerPsk(dir: string, identity: string): Buffer | null {
  let content: string;
  try {
    content = readFileSync(pskFilePath(dir), 'latin1');
  } catch {
    return null;
  }
  const found = findKey(content, identity);
  return found !== undefined && 'key' in found ? found.key : null;
}
