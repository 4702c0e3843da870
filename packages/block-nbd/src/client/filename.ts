// QEMU's ways of naming an NBD export, turned into the driver's flat options:
//   nbd://host[:port]/export   nbd+tcp://...   nbd+unix:///export?socket=PATH
//   nbd:host:port[:exportname=x]   nbd:unix:PATH[:exportname=x]
// and back (the canonical filename qemu-img prints).
import { BlockError, type BlockOptions } from '@tsemu/block-core';
import { NBD_DEFAULT_PORT } from '../constants.js';
import type { NbdServerAddress } from './address.js';

export function parseNbdFilename(filename: string): BlockOptions {
  if (/^nbd(\+tcp|\+unix)?:\/\//.test(filename)) return parseUri(filename);
  if (filename.startsWith('nbd:')) return parseLegacy(filename.slice(4));
  throw new BlockError('EINVAL', `Invalid NBD filename '${filename}'`);
}

function parseUri(filename: string): BlockOptions {
  const m = /^(nbd(?:\+tcp|\+unix)?):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?$/.exec(filename);
  if (!m) throw new BlockError('EINVAL', 'Invalid URI');
  const [, scheme, authority, path, query] = m;
  const params = new URLSearchParams(query ?? '');
  const opts: BlockOptions = {};
  let exportName: string;
  try {
    exportName = decodeURIComponent(path.replace(/^\//, ''));
  } catch {
    throw new BlockError('EINVAL', 'Invalid URI');
  }
  if (exportName !== '') opts.export = exportName;
  if (scheme === 'nbd+unix') {
    if (authority !== '') throw new BlockError('EINVAL', 'Invalid URI: nbd+unix takes no host or port');
    const socket = params.get('socket');
    if (!socket || [...params.keys()].length !== 1) throw new BlockError('EINVAL', "Invalid URI: 'socket' must be the only parameter");
    opts['server.type'] = 'unix';
    opts['server.path'] = socket;
    return opts;
  }
  if (query !== undefined && query !== '') throw new BlockError('EINVAL', 'Invalid URI: unexpected query parameters');
  const hp = /^(?:\[([^\]]*)\]|([^:]*))(?::(\d*))?$/.exec(authority);
  if (!hp) throw new BlockError('EINVAL', 'Invalid URI');
  opts['server.type'] = 'inet';
  opts['server.host'] = hp[1] ?? (hp[2] || 'localhost');
  opts['server.port'] = hp[3] || String(NBD_DEFAULT_PORT);
  return opts;
}

function parseLegacy(rest: string): BlockOptions {
  const opts: BlockOptions = {};
  let body = rest;
  const m = /:exportname=(.*)$/.exec(body);
  if (m) {
    opts.export = m[1];
    body = body.slice(0, m.index);
  }
  if (body.startsWith('unix:')) {
    opts['server.type'] = 'unix';
    opts['server.path'] = body.slice(5);
    if (opts['server.path'] === '') throw new BlockError('EINVAL', 'No socket path given');
    return opts;
  }
  let host: string;
  let port: string;
  const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(body);
  if (v6) {
    host = v6[1];
    port = v6[2] ?? String(NBD_DEFAULT_PORT);
  } else {
    const i = body.lastIndexOf(':');
    host = i < 0 ? body : body.slice(0, i);
    port = i < 0 ? String(NBD_DEFAULT_PORT) : body.slice(i + 1);
  }
  opts['server.type'] = 'inet';
  opts['server.host'] = host;
  opts['server.port'] = port;
  return opts;
}

/** The server address from flat options (server.* or QEMU's older host/port/path keys). */
export function addressFromOptions(opts: BlockOptions): NbdServerAddress {
  const path = opts['server.path'] ?? opts.path;
  const type = opts['server.type'] ?? (path !== undefined ? 'unix' : 'inet');
  if (type === 'unix') {
    if (!path) throw new BlockError('EINVAL', "Parameter 'server.path' is missing");
    return { type: 'unix', path };
  }
  if (type !== 'inet') throw new BlockError('EINVAL', `Parameter 'server.type' does not accept value '${type}'`);
  const host = opts['server.host'] ?? opts.host;
  if (!host) throw new BlockError('EINVAL', "Parameter 'server.host' is missing");
  const portText = opts['server.port'] ?? opts.port ?? String(NBD_DEFAULT_PORT);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new BlockError('EINVAL', `Invalid port '${portText}'`);
  return { type: 'inet', host, port };
}

/** The canonical filename QEMU shows for an NBD node. */
export function canonicalNbdFilename(address: NbdServerAddress, exportName: string): string {
  const exp = exportName === '' ? '' : encodeURI(exportName);
  if (address.type === 'unix') return exp ? `nbd+unix:///${exp}?socket=${address.path}` : `nbd+unix://?socket=${address.path}`;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return exp ? `nbd://${host}:${address.port}/${exp}` : `nbd://${host}:${address.port}`;
}
