// Where an image lives: the daemon's address and the VDI (with an optional
// snapshot id or tag). Parses the three filename syntaxes and the flat
// --image-opts keys, which all end up as the same option dictionary.
import { BlockError, type BlockOptions } from '@tsemu/block-core';
import { SD_PORT, SD_MAX_VDI_LEN, SD_MAX_VDI_TAG_LEN } from '../wire/constants.js';

export type SheepdogAddress = { host: string; port: number } | { path: string };

export interface SheepdogLocation {
  address: SheepdogAddress;
  vdi: string;
  /** 0 = the current (writable) VDI. */
  snapId: number;
  /** '' = none. */
  tag: string;
}

const DEFAULT_HOST = 'localhost';

function invalid(what: string): BlockError {
  return new BlockError('EINVAL', what);
}

/** A trailing snapshot field: all digits and non-zero = snapshot id, anything else = tag (QEMU's rule). */
function snapField(text: string, out: BlockOptions): void {
  const id = /^\d+$/.test(text) ? Number(text) : 0;
  if (id > 0 && id <= 0xffffffff) out['snap-id'] = String(id);
  else if (text !== '') out['tag'] = text;
}

/** `sheepdog:[host:port:]vdi[:snapid|:tag]` (QEMU 1.4) or the 1.5 URIs. */
export function parseSheepdogFilename(filename: string): BlockOptions {
  const uri = /^(sheepdog(?:\+tcp|\+unix)?):\/\//.exec(filename);
  return uri ? parseUri(filename, uri[1]!) : parseLegacy(filename);
}

function parseLegacy(filename: string): BlockOptions {
  const body = filename.startsWith('sheepdog:') ? filename.slice('sheepdog:'.length) : filename;
  const parts = body.split(':');
  const out: BlockOptions = { 'server.type': 'inet', 'server.host': DEFAULT_HOST, 'server.port': String(SD_PORT) };
  let rest = parts;
  if (parts.length >= 3) {
    out['server.host'] = parts[0]!;
    out['server.port'] = parts[1]!;
    rest = parts.slice(2);
  }
  // Only the first remaining colon separates the snapshot field.
  const vdi = rest[0] ?? '';
  if (rest.length > 1) snapField(rest.slice(1).join(':'), out);
  out['vdi'] = vdi;
  return out;
}

function parseUri(filename: string, scheme: string): BlockOptions {
  let url: URL;
  try {
    // WHATWG URL does not know these schemes; swap in one it parses generically.
    url = new URL(filename.replace(/^[^:]+:/, 'sheepdog-any:'));
  } catch {
    throw invalid(`Invalid sheepdog URI: ${filename}`);
  }
  const path = decodeURIComponent(url.pathname);
  if (!path.startsWith('/') || path.length < 2) throw invalid(`Invalid sheepdog URI (no VDI name): ${filename}`);
  const out: BlockOptions = { vdi: path.slice(1) };
  if (scheme === 'sheepdog+unix') {
    const socket = url.searchParams.get('socket');
    if (url.hostname !== '' || !socket || [...url.searchParams.keys()].length !== 1) {
      throw invalid(`sheepdog+unix URIs need an empty host and exactly ?socket=PATH: ${filename}`);
    }
    out['server.type'] = 'unix';
    out['server.path'] = socket;
  } else {
    if (url.search !== '') throw invalid(`Invalid sheepdog URI (unexpected query): ${filename}`);
    out['server.type'] = 'inet';
    out['server.host'] = url.hostname === '' ? DEFAULT_HOST : url.hostname.replace(/^\[(.*)\]$/, '$1');
    out['server.port'] = url.port === '' ? String(SD_PORT) : url.port;
  }
  if (url.hash.length > 1) snapField(decodeURIComponent(url.hash.slice(1)), out);
  return out;
}

/** Turns the option dictionary (from a filename or --image-opts) into a location. */
export function locationFromOptions(options: BlockOptions): SheepdogLocation {
  let opts = options;
  if (options['filename'] !== undefined && options['vdi'] === undefined) {
    opts = { ...options, ...parseSheepdogFilename(options['filename']) };
  }
  const vdi = opts['vdi'];
  if (!vdi) throw invalid("Parameter 'vdi' is missing");
  if (Buffer.byteLength(vdi) >= SD_MAX_VDI_LEN) throw invalid(`VDI name too long: ${vdi}`);
  const tag = opts['tag'] ?? '';
  if (Buffer.byteLength(tag) > SD_MAX_VDI_TAG_LEN) throw invalid(`Snapshot tag too long: ${tag}`);
  const snapText = opts['snap-id'] ?? '0';
  if (!/^\d+$/.test(snapText) || Number(snapText) > 0xffffffff) throw invalid(`Invalid snap-id: ${snapText}`);
  const type = opts['server.type'] ?? (opts['server.path'] ? 'unix' : 'inet');
  let address: SheepdogAddress;
  if (type === 'unix') {
    const path = opts['server.path'];
    if (!path) throw invalid("Parameter 'server.path' is missing");
    address = { path };
  } else if (type === 'inet') {
    const portText = opts['server.port'] ?? String(SD_PORT);
    const port = Number(portText);
    if (!/^\d+$/.test(portText) || port < 1 || port > 65535) throw invalid(`Invalid port: ${portText}`);
    address = { host: opts['server.host'] || DEFAULT_HOST, port };
  } else {
    throw invalid(`Invalid server.type: ${type}`);
  }
  return { address, vdi, snapId: Number(snapText), tag };
}

export function describeAddress(a: SheepdogAddress): string {
  return 'path' in a ? a.path : `${a.host}:${a.port}`;
}
