// Where qemu-nbd listens, worked out as qemu-nbd 7.2 does before it binds:
// -p goes through getaddrinfo's service rules (numbers wrap modulo 65536,
// names come from /etc/services), -b through the resolver, -k must be a
// short enough path and a stale file there is removed first. Failures give
// qemu-nbd's messages.
import { lookup } from 'node:dns/promises';
import { readFileSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { numericService } from './c-number.js';
import { CliError } from './options-errors.js';

const UNIX_PATH_MAX = 108;

/** getaddrinfo's service: a number, or a tcp name (or alias) in /etc/services. */
function servicePort(service: string): number | undefined {
  const n = numericService(service);
  if (n !== undefined) return n;
  let text = '';
  try {
    text = readFileSync('/etc/services', 'utf8');
  } catch {
    return undefined;
  }
  for (const raw of text.split('\n')) {
    const words = raw.replace(/#.*/, '').trim().split(/\s+/);
    const m = /^(\d+)\/tcp$/.exec(words[1] ?? '');
    if (m && (words[0] === service || words.slice(2).includes(service))) return Number(m[1]) & 0xffff;
  }
  return undefined;
}

/** gai_strerror's text for Node's getaddrinfo error codes. */
function gaiText(code: string | undefined): string {
  switch (code) {
    case 'ENOTFOUND': return 'Name or service not known';
    case 'EAI_AGAIN': return 'Temporary failure in name resolution';
    case 'EAI_FAIL': return 'Non-recoverable failure in name resolution';
    case 'ENODATA': return 'No address associated with hostname';
    case 'EAI_FAMILY': return 'ai_family not supported';
    default: return 'System error';
  }
}

/** -b/-p to one address to bind (the first the resolver returns; an empty -b is every address). */
export async function resolveInet(host: string, port: string): Promise<{ host: string; port: number }> {
  const fail = (why: string): never => {
    throw new CliError(`address resolution failed for ${host}:${port}: ${why}`);
  };
  const n = servicePort(port);
  if (n === undefined) fail('Servname not supported for ai_socktype');
  if (host === '') return { host: '', port: n! };
  try {
    const { address } = await lookup(host, { verbatim: true });
    return { host: address, port: n! };
  } catch (err) {
    return fail(gaiText((err as { code?: string }).code));
  }
}

/** -k: qemu-nbd's path-length check, and removal of whatever non-directory sits at the path. */
export function prepareUnixPath(path: string): void {
  if (Buffer.byteLength(path) >= UNIX_PATH_MAX) {
    throw new CliError(`UNIX socket path '${path}' is too long\n\0Path must be less than ${UNIX_PATH_MAX} bytes`);
  }
  try {
    unlinkSync(path);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT') return;
    // Linux unlink(2) of a directory says EISDIR; Node reports EPERM on some systems.
    const isDir = code === 'EISDIR' || (code === 'EPERM' && statSync(path, { throwIfNoEntry: false })?.isDirectory());
    throw new CliError(`Failed to unlink socket ${path}: ${isDir ? 'Is a directory' : errnoText(code)}`);
  }
}

/** strerror for the errno codes binding can give. */
export function errnoText(code: string | undefined): string {
  switch (code) {
    case 'EADDRINUSE': return 'Address already in use';
    case 'EACCES': return 'Permission denied';
    case 'EPERM': return 'Operation not permitted';
    case 'EADDRNOTAVAIL': return 'Cannot assign requested address';
    case 'ENOENT': return 'No such file or directory';
    case 'ENOTDIR': return 'Not a directory';
    case 'EISDIR': return 'Is a directory';
    case 'EROFS': return 'Read-only file system';
    case 'EAFNOSUPPORT': return 'Address family not supported by protocol';
    default: return code ?? 'Unknown error';
  }
}

/** qemu-nbd's message when binding fails (libuv reports a missing unix-socket directory as EACCES). */
export function bindFailure(at: { type: 'unix'; path: string } | { type: 'inet' } | { type: 'fd' }, code: string | undefined): string {
  if (at.type === 'unix') {
    let c = code;
    if (c === 'EACCES') {
      const dir = statSync(dirname(at.path), { throwIfNoEntry: false });
      if (!dir) c = 'ENOENT';
      else if (!dir.isDirectory()) c = 'ENOTDIR';
    }
    return `Failed to bind socket to ${at.path}: ${errnoText(c)}`;
  }
  if (at.type === 'fd') return `Failed to use socket activation: ${errnoText(code)}`;
  return code === 'EADDRINUSE' ? 'Failed to find an available port: Address already in use' : `Failed to bind socket: ${errnoText(code)}`;
}
