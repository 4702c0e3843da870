// QEMU's TLS credential objects, by id. tls-creds-x509: a directory holding
// ca-cert.pem plus server-cert.pem/server-key.pem (endpoint=server) or
// client-cert.pem/client-key.pem (endpoint=client, optional unless the
// server verifies peers). tls-creds-psk: a directory holding keys.psk, lines
// of `username:hexkey` (see psk-keys.ts). Tools register objects from
// --object; the driver and the server look them up by id.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BlockError, parseOptionString } from '@tsemu/block-core';
import { PSK_DEFAULT_USERNAME, loadClientPsk, pskFilePath } from './psk-keys.js';

export interface NbdTlsCredentials {
  id: string;
  dir: string;
  endpoint: 'client' | 'server';
  /** Server: require a client certificate signed by the CA. Client: check the server's certificate (QEMU's default: on). */
  verifyPeer: boolean;
  /** Absent means x509 (objects built before PSK existed). */
  type?: 'x509' | 'psk';
  /** PSK client: the identity it sends (QEMU's default `qemu`). */
  username?: string;
  /** PSK client: the key for `username`, read when the object is made (as QEMU does). */
  pskKey?: Buffer;
}

const registry = new Map<string, NbdTlsCredentials>();

/** Properties QEMU's tls-creds-psk accepts (its own plus the tls-creds base class's). */
const PSK_KEYS = new Set(['qom-type', 'id', 'dir', 'endpoint', 'verify-peer', 'priority', 'username', 'loaded', 'sanity-check']);

/** Parses `tls-creds-x509,id=tls0,dir=/path,endpoint=server[,verify-peer=off]` or `tls-creds-psk,...` (the --object syntax). */
export function parseTlsCredsObject(text: string): NbdTlsCredentials {
  const o = parseOptionString(text, 'qom-type');
  const type = o['qom-type'];
  if (type === 'tls-creds-psk') return parsePskObject(o);
  if (type !== 'tls-creds-x509') throw new BlockError('ENOTSUP', `Object type '${type ?? ''}' is not supported yet`);
  if (!o.id) throw new BlockError('EINVAL', "Parameter 'id' is missing");
  if (!o.dir) throw new BlockError('EINVAL', 'Unable to access credentials: missing dir');
  const endpoint = parseEndpoint(o.endpoint);
  const vp = o['verify-peer'] ?? 'on';
  const verifyPeer = !(vp === 'off' || vp === 'no' || vp === 'false');
  return { id: o.id, dir: o.dir, endpoint, verifyPeer };
}

function parseEndpoint(value: string | undefined): 'client' | 'server' {
  const endpoint = value ?? 'client';
  if (endpoint !== 'client' && endpoint !== 'server') throw new BlockError('EINVAL', `Parameter 'endpoint' does not accept value '${endpoint}'`);
  return endpoint;
}

/** tls-creds-psk, checked in QEMU's order; a client's key is loaded now, a server reads keys.psk at each handshake. */
function parsePskObject(o: Record<string, string>): NbdTlsCredentials {
  if (!o.id) throw new BlockError('EINVAL', "Parameter 'id' is missing");
  for (const key of Object.keys(o)) {
    if (!PSK_KEYS.has(key)) throw new BlockError('EINVAL', `Parameter '${key}' is unexpected`);
  }
  const endpoint = parseEndpoint(o.endpoint);
  if (endpoint === 'server' && o.username !== undefined) throw new BlockError('EINVAL', 'username should not be set when endpoint=server');
  if (!o.dir) throw new BlockError('EINVAL', "Missing 'dir' property value");
  const creds: NbdTlsCredentials = { id: o.id, dir: o.dir, endpoint, verifyPeer: false, type: 'psk' };
  if (endpoint === 'server') {
    const path = pskFilePath(o.dir);
    if (!existsSync(path)) throw new BlockError('ENOENT', `Unable to access credentials ${path}: No such file or directory`);
    return creds;
  }
  creds.username = o.username ?? PSK_DEFAULT_USERNAME;
  creds.pskKey = loadClientPsk(o.dir, creds.username);
  return creds;
}

export function registerTlsCredentials(creds: NbdTlsCredentials): void {
  registry.set(creds.id, creds);
}

/** Ids of other objects the tools made (secrets): naming one as tls-creds gets QEMU's "is not TLS credentials". */
const otherObjects = new Set<string>();

export function registerNonTlsObject(id: string): void {
  otherObjects.add(id);
}

/** Forgets every object (a tool's main() run again in the same process). */
export function clearTlsCredentials(): void {
  registry.clear();
  otherObjects.clear();
}

export function findTlsCredentials(id: string): NbdTlsCredentials {
  const c = registry.get(id);
  if (!c && otherObjects.has(id)) throw new BlockError('EINVAL', `Object with id '${id}' is not TLS credentials`);
  if (!c) throw new BlockError('EINVAL', `No TLS credentials with id '${id}'`);
  return c;
}

function readPem(dir: string, name: string, required: boolean): Buffer | undefined {
  const path = join(dir, name);
  if (!existsSync(path)) {
    if (required) throw new BlockError('ENOENT', `Unable to access credentials ${path}: No such file or directory`);
    return undefined;
  }
  return readFileSync(path);
}

/** Key material for node:tls, in QEMU's file names (x509 credentials only). */
export function loadTlsMaterial(creds: NbdTlsCredentials): { ca: Buffer; cert?: Buffer; key?: Buffer } {
  const server = creds.endpoint === 'server';
  const ca = readPem(creds.dir, 'ca-cert.pem', true)!;
  const cert = readPem(creds.dir, server ? 'server-cert.pem' : 'client-cert.pem', server);
  const key = readPem(creds.dir, server ? 'server-key.pem' : 'client-key.pem', server);
  return { ca, cert, key };
}
