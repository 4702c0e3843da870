// qemu-nbd's command line, parsed into a plain settings object with
// qemu-nbd's own error messages.
import { parseCacheMode, parseOptionString, type CacheFlags } from '@tsemu/block-core';
import { parseTlsCredsObject, type NbdTlsCredentials } from '@tsemu/block-nbd';
import { getopt, UsageError, type LongOption } from './getopt.js';
import { isAuthzType, parseAuthzObject, type NbdAuthz } from './authz.js';
import type { TlsAuthzRef } from './tls-peer.js';

/** A bad command line; a message of several lines is printed as several `qemu-nbd:` lines. */
export class CliError extends Error {}
/** Printed like a usage error, but qemu-nbd's own "Try" line has no program prefix. */
export class ArgumentCountError extends Error {}
export class HelpRequested extends Error {}
export class VersionRequested extends Error {}

export interface NbdCliSettings {
  file?: string;
  port?: string;
  bind?: string;
  socket?: string;
  shared: number;
  persistent: boolean;
  verbose: boolean;
  exportName: string;
  description?: string;
  list: boolean;
  format?: string;
  readOnly: boolean;
  cache?: CacheFlags;
  cacheName?: string;
  discard: 'ignore' | 'unmap';
  detectZeroes: 'off' | 'on' | 'unmap';
  imageOpts: boolean;
  fork: boolean;
  pidFile?: string;
  /** -o: export the image from this byte on (a raw node with `offset` on top, as qemu-nbd does). */
  offset?: number;
  /** --object tls-creds-x509,... / tls-creds-psk,... definitions by id. */
  objects: Map<string, NbdTlsCredentials>;
  /** --object authz-simple,... / authz-list,... definitions by id. */
  authz: Map<string, NbdAuthz>;
  /** The --tls-creds object. */
  tls?: NbdTlsCredentials;
  /** --tls-authz: the id, and its object when one exists (a missing one refuses each client, as qemu-nbd). */
  tlsAuthz?: TlsAuthzRef;
  /** -A: offer the qemu:allocation-depth metadata context. */
  allocationDepth: boolean;
  /** -B NAME (repeatable): offer qemu:dirty-bitmap:NAME for these persistent bitmaps. */
  bitmaps: string[];
  /** -s: serve a temporary qcow2 overlay over FILE, deleted when the server exits. */
  snapshot: boolean;
  /** -l: the internal snapshot to export read-only (-l implies -r). */
  loadSnapshot?: LoadSnapshotParam;
}

/** -l's argument: `snapshot.id=ID,snapshot.name=NAME` (either may be absent) or a bare id-or-name. */
export type LoadSnapshotParam =
  | { kind: 'idOrName'; idOrName: string }
  | { kind: 'options'; id?: string; name?: string };

const SNAPSHOT_OPT_PREFIX = 'snapshot.';
const SNAPSHOT_KEYS = new Set(['snapshot.id', 'snapshot.name']);

function parseLoadSnapshot(arg: string): LoadSnapshotParam {
  if (!arg.startsWith(SNAPSHOT_OPT_PREFIX)) return { kind: 'idOrName', idOrName: arg };
  const failed = `Failed in parsing snapshot param \`${arg}'`;
  let opts: Record<string, string>;
  try {
    opts = parseOptionString(arg);
  } catch (err) {
    throw new CliError(`${err instanceof Error ? err.message : String(err)}\n${failed}`);
  }
  for (const key of Object.keys(opts)) {
    if (!SNAPSHOT_KEYS.has(key)) throw new CliError(`Invalid parameter '${key}'\n${failed}`);
  }
  return { kind: 'options', id: opts['snapshot.id'], name: opts['snapshot.name'] };
}

const SHORT = 'hVb:o:p:rsnc:dvk:e:f:tl:x:T:D:AB:L';
const LONG: LongOption[] = [
  ['help', false, 'h'], ['version', false, 'V'], ['bind', true, 'b'], ['port', true, 'p'], ['socket', true, 'k'],
  ['offset', true, 'o'], ['read-only', false, 'r'], ['allocation-depth', false, 'A'], ['bitmap', true, 'B'],
  ['connect', true, 'c'], ['disconnect', false, 'd'], ['snapshot', false, 's'], ['load-snapshot', true, 'l'],
  ['nocache', false, 'n'], ['cache', true, 'cache'], ['aio', true, 'aio'], ['discard', true, 'discard'],
  ['detect-zeroes', true, 'detect-zeroes'], ['shared', true, 'e'], ['format', true, 'f'], ['persistent', false, 't'],
  ['verbose', false, 'v'], ['object', true, 'object'], ['export-name', true, 'x'], ['description', true, 'D'],
  ['tls-creds', true, 'tls-creds'], ['tls-authz', true, 'tls-authz'], ['image-opts', false, 'image-opts'],
  ['trace', true, 'T'], ['fork', false, 'fork'], ['pid-file', true, 'pid-file'], ['selinux-label', true, 'selinux-label'],
  ['list', false, 'L'],
].map(([name, hasArg, key]) => ({ name: name as string, hasArg: hasArg as boolean, key: key as string }));

/** Options tsemu-nbd recognises but cannot do yet: a clear message instead of a silent difference. */
const UNSUPPORTED: Record<string, string> = {
  c: '-c/--connect is not supported: attaching /dev/nbdX needs the kernel NBD driver (ioctl), which tsemu-nbd does not use',
  d: '-d/--disconnect is not supported: tsemu-nbd does not drive kernel NBD devices',
  'selinux-label': '--selinux-label is not supported',
};

export function parseArgs(argv: readonly string[]): NbdCliSettings {
  const s: NbdCliSettings = {
    shared: 1, persistent: false, verbose: false, exportName: '', list: false, readOnly: false,
    discard: 'ignore', detectZeroes: 'off', imageOpts: false, fork: false, objects: new Map(), authz: new Map(), snapshot: false, allocationDepth: false, bitmaps: [],
  };
  let tlsId: string | undefined;
  let authzId: string | undefined;
  let sawNocache = false;
  const { options, operands } = getopt(argv, SHORT, LONG);
  for (const { key, arg = '' } of options) {
    if (key in UNSUPPORTED) throw new CliError(UNSUPPORTED[key]!);
    switch (key) {
      case 'h': throw new HelpRequested();
      case 'V': throw new VersionRequested();
      case 'b': s.bind = arg; break;
      case 'o': {
        const n = /^(0x[0-9a-fA-F]+|\d+)$/.test(arg) ? Number(arg) : NaN;
        if (!Number.isSafeInteger(n) || n < 0) throw new CliError(`Invalid offset '${arg}'`);
        s.offset = n;
        break;
      }
      case 'p': s.port = arg; break;
      case 'k': s.socket = arg; break;
      case 'r': s.readOnly = true; break;
      case 'A': s.allocationDepth = true; break;
      case 'B': s.bitmaps.push(arg); break;
      case 's': s.snapshot = true; break;
      case 'l':
        // As qemu-nbd: loading a snapshot makes the export read-only.
        s.loadSnapshot = parseLoadSnapshot(arg);
        s.readOnly = true;
        break;
      case 'n':
        if (s.cache || sawNocache) throw new CliError('-n and --cache can only be specified once');
        sawNocache = true;
        s.cache = parseCacheMode('none');
        s.cacheName = 'none';
        break;
      case 'cache':
        if (s.cache) throw new CliError('-n and --cache can only be specified once');
        try {
          s.cache = parseCacheMode(arg);
        } catch {
          throw new CliError(`Invalid cache mode \`${arg}'`);
        }
        s.cacheName = arg;
        break;
      case 'aio':
        if (!['native', 'io_uring', 'threads'].includes(arg)) throw new CliError(`Invalid aio mode '${arg}'`);
        break;
      case 'discard':
        if (arg === 'ignore' || arg === 'off') s.discard = 'ignore';
        else if (arg === 'unmap' || arg === 'on') s.discard = 'unmap';
        else throw new CliError(`Invalid discard mode \`${arg}'`);
        break;
      case 'detect-zeroes':
        if (arg !== 'off' && arg !== 'on' && arg !== 'unmap') throw new CliError(`Failed to parse detect_zeroes mode: invalid parameter value: ${arg}`);
        s.detectZeroes = arg;
        break;
      case 'e': {
        const n = /^\d+$/.test(arg) ? Number(arg) : NaN;
        if (!(n >= 0 && n <= 0x7fffffff)) throw new CliError(`Invalid shared device number '${arg}'`);
        // qemu-nbd accepts 0 and then never serves anyone; tsemu-nbd treats it as 1.
        s.shared = Math.max(1, n);
        break;
      }
      case 'f': s.format = arg; break;
      case 't': s.persistent = true; break;
      case 'v': s.verbose = true; break;
      case 'x':
        if (new TextEncoder().encode(arg).byteLength > 4096) throw new CliError(`export name '${arg}' too long`);
        s.exportName = arg;
        break;
      case 'D':
        if (new TextEncoder().encode(arg).byteLength > 4096) throw new CliError(`description '${arg}' too long`);
        s.description = arg;
        break;
      case 'image-opts': s.imageOpts = true; break;
      case 'T': break; // no trace events exist yet
      case 'fork': s.fork = true; break;
      case 'pid-file': s.pidFile = arg; break;
      case 'L': s.list = true; break;
      case 'object': addObject(s, arg); break;
      case 'tls-creds': tlsId = arg; break;
      case 'tls-authz': authzId = arg; break;
      default: throw new UsageError(`unrecognized option '${key}'`);
    }
  }
  if (tlsId !== undefined) {
    const creds = s.objects.get(tlsId);
    if (!creds) {
      const why = s.authz.has(tlsId) ? `Object with id '${tlsId}' is not TLS credentials` : `No TLS credentials with id '${tlsId}'`;
      throw new CliError(`Failed to get TLS creds: ${why}`);
    }
    const want = s.list ? 'client' : 'server';
    if (creds.endpoint !== want) throw new CliError(`Failed to get TLS creds: Expected TLS credentials for a ${want} endpoint`);
    s.tls = creds;
  }
  if (authzId !== undefined) {
    if (tlsId === undefined) throw new CliError('--tls-authz is not permitted without --tls-creds');
    if (s.list) throw new CliError('TLS authorization is incompatible with export list');
    s.tlsAuthz = { id: authzId, authz: s.authz.get(authzId) };
  }
  if (s.detectZeroes === 'unmap' && s.discard !== 'unmap') {
    throw new CliError('setting detect-zeroes to unmap is not allowed without setting discard operation to unmap');
  }
  if (s.imageOpts && s.format) throw new CliError('--image-opts and -f are mutually exclusive');
  if (s.imageOpts && s.offset !== undefined) throw new CliError('-o/--offset with --image-opts is not supported yet');
  if (s.imageOpts && s.snapshot) throw new CliError('-s/--snapshot with --image-opts is not supported yet');
  if (s.list) {
    if (operands.length !== 0) throw new CliError('List mode is incompatible with a file name');
    return s;
  }
  if (operands.length !== 1) throw new ArgumentCountError('Invalid number of arguments');
  s.file = operands[0];
  if (s.socket !== undefined && (s.bind !== undefined || s.port !== undefined)) {
    throw new CliError('-k and -b/-p are incompatible');
  }
  return s;
}

/** One --object: TLS credentials or an authz object, made at once (file errors show here, as in qemu-nbd). */
function addObject(s: NbdCliSettings, arg: string): void {
  const type = parseOptionString(arg, 'qom-type')['qom-type'] ?? '';
  const obj = isAuthzType(type) ? parseAuthzObject(parseOptionString(arg, 'qom-type')) : parseTlsCredsObject(arg);
  if (s.objects.has(obj.id) || s.authz.has(obj.id)) throw new CliError(`attempt to add duplicate property '${obj.id}' to object (type 'container')`);
  if ('isAllowed' in obj) s.authz.set(obj.id, obj);
  else s.objects.set(obj.id, obj);
}

/** -p argument as a port number, or the default; `host` is only for the message. */
export function portNumber(text: string | undefined, host: string): number {
  if (text === undefined) return 10809;
  if (!/^\d+$/.test(text) || Number(text) > 65535) {
    throw new CliError(`address resolution failed for ${host}:${text}: Servname not supported for ai_socktype`);
  }
  return Number(text);
}
