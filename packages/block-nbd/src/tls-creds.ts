// QEMU's tls-creds-x509 objects: a directory holding ca-cert.pem plus
// server-cert.pem/server-key.pem (endpoint=server) or client-cert.pem/
// client-key.pem (endpoint=client, optional unless the server verifies
// peers). Tools register objects from --object; the driver and the server
// look them up by id.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BlockError, parseOptionString } from '@tsemu/block-core';

export interface NbdTlsCredentials {
  id: string;
  dir: string;
  endpoint: 'client' | 'server';
  /** Server: require a client certificate signed by the CA. Client: check the server's certificate (QEMU's default: on). */
  verifyPeer: boolean;
}

const registry = new Map<string, NbdTlsCredentials>();

/** Parses `tls-creds-x509,id=tls0,dir=/path,endpoint=server[,verify-peer=off]` (the --object syntax). */
export function parseTlsCredsObject(text: string): NbdTlsCredentials {
  const o = parseOptionString(text, 'qom-type');
  if (o['qom-type'] !== 'tls-creds-x509') throw new BlockError('ENOTSUP', `Object type '${o['qom-type'] ?? ''}' is not supported yet`);
  if (!o.id) throw new BlockError('EINVAL', "Parameter 'id' is missing");
  if (!o.dir) throw new BlockError('EINVAL', 'Unable to access credentials: missing dir');
  const endpoint = o.endpoint ?? 'client';
  if (endpoint !== 'client' && endpoint !== 'server') throw new BlockError('EINVAL', `Parameter 'endpoint' does not accept value '${endpoint}'`);
  const vp = o['verify-peer'] ?? 'on';
  const verifyPeer = !(vp === 'off' || vp === 'no' || vp === 'false');
  return { id: o.id, dir: o.dir, endpoint, verifyPeer };
}

export function registerTlsCredentials(creds: NbdTlsCredentials): void {
  registry.set(creds.id, creds);
}

export function findTlsCredentials(id: string): NbdTlsCredentials {
  const c = registry.get(id);
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

/** Key material for node:tls, in QEMU's file names. */
export function loadTlsMaterial(creds: NbdTlsCredentials): { ca: Buffer; cert?: Buffer; key?: Buffer } {
  const server = creds.endpoint === 'server';
  const ca = readPem(creds.dir, 'ca-cert.pem', true)!;
  const cert = readPem(creds.dir, server ? 'server-cert.pem' : 'client-cert.pem', server);
  const key = readPem(creds.dir, server ? 'server-key.pem' : 'client-key.pem', server);
  return { ca, cert, key };
}
