// qemu-nbd's command line, parsed into a plain settings object with
// qemu-nbd's own error messages, checked in qemu-nbd 7.2's order: each
// option as getopt returns it, then list mode / argument count, then TLS.
import {
  TraceOptionError, openTraceFile, parseCacheMode, parseOptionString, parseTraceOpt, type CacheFlags,
} from '@tsemu/block-core';
import { checkObjectId, createUserObject, IOTHREAD_OPTIONS, resetUserObjects, userObjectHelp, UserObjectError } from '@tsemu/block-drivers';
import { parseTlsCredsObject, type NbdTlsCredentials } from '@tsemu/block-nbd';
import { GETOPT_ERROR, getopt, UsageError, type LongOption } from './getopt.js';
import { isAuthzType, parseAuthzObject, type NbdAuthz } from './authz.js';
import type { TlsAuthzRef } from './tls-peer.js';
import { CliError, ArgumentCountError, HelpRequested, ObjectHelpRequested, VersionRequested } from './options-errors.js';
import { strtoi, strtou64 } from './c-number.js';
import { FIRST_LISTEN_FD, checkActivatedSettings, socketActivationFds } from './socket-activation.js';

export { CliError, ArgumentCountError, HelpRequested, ObjectHelpRequested, VersionRequested } from './options-errors.js';
export { TraceHelpRequested } from '@tsemu/block-core';

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
  /** -o: export the image from this byte on (a raw node with `offset` on top, as qemu-nbd does); 0 is none. */
  offset?: bigint;
  /** -c DEVICE / -d: parsed for qemu-nbd's order of checks, then refused (no kernel NBD client). */
  device?: string;
  disconnect: boolean;
  /** Socket activation (LISTEN_PID/LISTEN_FDS): serve on this inherited listening fd. */
  activationFd?: number;
  /** --aio: accepted (Node's I/O is its own); native still needs cache.direct, as QEMU's file driver says. */
  aio?: string;
  /** --tls-hostname (with -L): the name the server's certificate must carry (default: the -b host). */
  tlsHostname?: string;
  /** -T file=FILE: the trace log file (created at start-up; tsemu-nbd writes no events to it yet). */
  traceFile?: string;
  /** --object tls-creds-x509,... / tls-creds-psk,... definitions by id. */
  objects: Map<string, NbdTlsCredentials>;
  /** --object authz-simple,... / authz-list,... definitions by id. */
  authz: Map<string, NbdAuthz>;
  /** --object iothread ids (accepted, unused: the server runs in one thread). */
  iothreads: Set<string>;
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
// In qemu-nbd's order: glibc lists ambiguous candidates in it.
const LONG: LongOption[] = [
  ['help', false, 'h'], ['version', false, 'V'], ['bind', true, 'b'], ['port', true, 'p'], ['socket', true, 'k'],
  ['offset', true, 'o'], ['read-only', false, 'r'], ['allocation-depth', false, 'A'], ['bitmap', true, 'B'],
  ['connect', true, 'c'], ['disconnect', false, 'd'], ['snapshot', false, 's'], ['list', false, 'L'], ['load-snapshot', true, 'l'],
  ['nocache', false, 'n'], ['cache', true, 'cache'], ['aio', true, 'aio'], ['discard', true, 'discard'],
  ['detect-zeroes', true, 'detect-zeroes'], ['shared', true, 'e'], ['format', true, 'f'], ['persistent', false, 't'],
  ['verbose', false, 'v'], ['object', true, 'object'], ['export-name', true, 'x'], ['description', true, 'D'],
  ['tls-creds', true, 'tls-creds'], ['tls-hostname', true, 'tls-hostname'], ['tls-authz', true, 'tls-authz'], ['image-opts', false, 'image-opts'],
  ['trace', true, 'T'], ['fork', false, 'fork'], ['pid-file', true, 'pid-file'], ['selinux-label', true, 'selinux-label'],
].map(([name, hasArg, key]) => ({ name: name as string, hasArg: hasArg as boolean, key: key as string }));

/** Options tsemu-nbd recognises but cannot do yet: a clear message instead of a silent difference. */
const UNSUPPORTED = {
  c: '-c/--connect is not supported: attaching /dev/nbdX needs the kernel NBD driver (ioctl), which tsemu-nbd does not use',
  d: '-d/--disconnect is not supported: tsemu-nbd does not drive kernel NBD devices',
  'selinux-label': '--selinux-label is not supported',
};

/** -T's stops as qemu-nbd errors (a complete line is marked with a leading NUL: no prefix). */
function traceOption<T>(step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (err instanceof TraceOptionError) throw new CliError(err.prefixed ? err.message : `\0${err.message}`);
    throw err;
  }
}

/** `warn(text, where?)` receives -T's warnings as they arise (qemu-nbd prints them during parsing). */
export function parseArgs(argv: readonly string[], warn: (text: string, where?: string) => void = () => {}): NbdCliSettings {
  const s: NbdCliSettings = {
    shared: 1, persistent: false, verbose: false, exportName: '', list: false, readOnly: false, disconnect: false,
    discard: 'ignore', detectZeroes: 'off', imageOpts: false, fork: false, objects: new Map(), authz: new Map(), iothreads: new Set(), snapshot: false, allocationDepth: false, bitmaps: [],
  };
  let tlsId: string | undefined;
  let authzId: string | undefined;
  let sawNocache = false;
  resetUserObjects(); // secrets from an earlier invocation in this process are gone

  // What qemu-nbd calls per-device settings, refused with -L.
  let sawAio = false;
  let sawDiscard = false;
  let sawExportName = false;
  const { options, operands } = getopt(argv, SHORT, LONG);
  for (const { key, arg = '' } of options) {
    switch (key) {
      case GETOPT_ERROR: throw new UsageError(arg);
      case 'h': throw new HelpRequested();
      case 'V': throw new VersionRequested();
      case 'b': s.bind = arg; break;
      case 'o': {
        // qemu_strtou64: base 0, and a negative number wraps (-1 is 2^64-1, refused when the image opens).
        const n = strtou64(arg);
        if (n === undefined) throw new CliError(`Invalid offset '${arg}'`);
        s.offset = n === 0n ? undefined : n;
        break;
      }
      case 'p': s.port = arg; break;
      case 'k':
        if (!arg.startsWith('/')) throw new CliError('socket path must be absolute');
        s.socket = arg;
        break;
      case 'c': s.device = arg; break;
      case 'd': s.disconnect = true; break;
      case 'selinux-label': throw new CliError(UNSUPPORTED['selinux-label']);
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
        if (sawAio) throw new CliError('--aio can only be specified once');
        sawAio = true;
        if (!['native', 'io_uring', 'threads'].includes(arg)) throw new CliError(`Invalid aio mode '${arg}'`);
        s.aio = arg;
        break;
      case 'discard':
        if (sawDiscard) throw new CliError('--discard can only be specified once');
        sawDiscard = true;
        if (arg === 'ignore' || arg === 'off') s.discard = 'ignore';
        else if (arg === 'unmap' || arg === 'on') s.discard = 'unmap';
        else throw new CliError(`Invalid discard mode \`${arg}'`);
        break;
      case 'detect-zeroes':
        if (arg !== 'off' && arg !== 'on' && arg !== 'unmap') throw new CliError(`Failed to parse detect_zeroes mode: invalid parameter value: ${arg}`);
        s.detectZeroes = arg;
        // Checked here, as qemu-nbd does: --discard=unmap must come first.
        if (arg === 'unmap' && s.discard !== 'unmap') {
          throw new CliError('setting detect-zeroes to unmap is not allowed without setting discard operation to unmap');
        }
        break;
      case 'e': {
        // qemu_strtoi, base 0; 0 means no limit.
        const n = strtoi(arg);
        if (n === undefined || n < 0) throw new CliError(`Invalid shared device number '${arg}'`);
        s.shared = n;
        break;
      }
      case 'f': s.format = arg; break;
      case 't': s.persistent = true; break;
      case 'v': s.verbose = true; break;
      case 'x':
        if (new TextEncoder().encode(arg).byteLength > 4096) throw new CliError(`export name '${arg}' too long`);
        s.exportName = arg;
        sawExportName = true;
        break;
      case 'D':
        if (new TextEncoder().encode(arg).byteLength > 4096) throw new CliError(`description '${arg}' too long`);
        s.description = arg;
        break;
      case 'image-opts': s.imageOpts = true; break;
      case 'T': {
        const file = traceOption(() => parseTraceOpt(arg, 'qemu-nbd', (text, where) => warn(text.replaceAll('\n', '\n\0'), where)));
        if (file !== undefined) s.traceFile = file;
        break;
      }
      case 'fork': s.fork = true; break;
      case 'pid-file': s.pidFile = arg; break;
      case 'L': s.list = true; break;
      case 'object': addObject(s, arg); break;
      case 'tls-creds': tlsId = arg; break;
      case 'tls-authz': authzId = arg; break;
      case 'tls-hostname': s.tlsHostname = arg; break;
      default: throw new UsageError(`unrecognized option '${key}'`);
    }
  }
  if (s.list) {
    if (operands.length !== 0) throw new CliError('List mode is incompatible with a file name');
    if (sawExportName || s.description !== undefined || s.offset !== undefined || s.device !== undefined || s.disconnect
      || s.format !== undefined || s.loadSnapshot || s.bitmaps.length || s.allocationDepth || sawAio || sawDiscard || s.cache) {
      throw new CliError('List mode is incompatible with per-device settings');
    }
    if (s.fork) throw new CliError('List mode is incompatible with forking');
  } else if (operands.length !== 1) {
    throw new ArgumentCountError('Invalid number of arguments');
  } else {
    s.file = operands[0];
  }
  // -T file=: qemu-nbd opens its trace log next (tsemu-nbd writes no events to it yet).
  if (s.traceFile !== undefined) traceOption(() => openTraceFile(s.traceFile!));
  const activated = socketActivationFds();
  if (activated) {
    checkActivatedSettings(activated, s);
    s.activationFd = FIRST_LISTEN_FD;
  }
  // qemu-nbd's TLS checks, in its order: the combinations first, then the credentials object.
  if (tlsId !== undefined) {
    if (s.device !== undefined) throw new CliError('TLS is not supported with a host device');
    if (authzId !== undefined && s.list) throw new CliError('TLS authorization is incompatible with export list');
    if (s.tlsHostname !== undefined && !s.list) throw new CliError('TLS hostname is only supported with export list');
    const creds = s.objects.get(tlsId);
    if (!creds) {
      const why = s.authz.has(tlsId) ? `Object with id '${tlsId}' is not TLS credentials` : `No TLS credentials with id '${tlsId}'`;
      throw new CliError(`Failed to get TLS creds: ${why}`);
    }
    const want = s.list ? 'client' : 'server';
    if (creds.endpoint !== want) throw new CliError(`Failed to get TLS creds: Expected TLS credentials for a ${want} endpoint`);
    s.tls = creds;
    if (authzId !== undefined) s.tlsAuthz = { id: authzId, authz: s.authz.get(authzId) };
  } else {
    if (authzId !== undefined) throw new CliError('--tls-authz is not permitted without --tls-creds');
    if (s.tlsHostname !== undefined) throw new CliError('--tls-hostname is not permitted without --tls-creds');
  }
  if (s.imageOpts && s.format) throw new CliError('--image-opts and -f are mutually exclusive');
  return s;
}

/** After the checks above, where qemu-nbd would start on the kernel device: tsemu-nbd has none. */
export function refuseKernelDevice(s: NbdCliSettings): void {
  if (s.disconnect) throw new CliError(UNSUPPORTED.d);
  if (s.device !== undefined) throw new CliError(UNSUPPORTED.c);
}

/**
 * The object types qemu-nbd 7.2 can create (`--object help`); tsemu-nbd makes the TLS and authz ones.
 * (Other names get QAPI's checks in qemu-nbd, not reproduced: they are refused as not supported.)
 */
export const USER_CREATABLE = [
  'authz-list', 'authz-list-file', 'authz-simple', 'iothread', 'main-loop', 'pr-manager-helper', 'secret',
  'secret_keyring', 'thread-context', 'throttle-group', 'tls-cipher-suites', 'tls-creds-anon', 'tls-creds-psk',
  'tls-creds-x509',
];

/** A refused --object: qemu-nbd prints the first line with its prefix, the rest (hints) as they are. */
function objectError(err: UserObjectError): CliError {
  return new CliError(err.message.replaceAll('\n', '\n\0'));
}

/**
 * An iothread object: checked (id, integer properties) and kept by id; the
 * server has no threads to give it (nothing takes an iothread here).
 */
function addIothread(s: NbdCliSettings, o: Record<string, string>): void {
  const id = o.id;
  if (id === undefined) throw new CliError("Parameter 'id' is missing");
  const allowed = IOTHREAD_OPTIONS.map((x) => x.slice(0, x.indexOf('=')));
  for (const [k, v] of Object.entries(o)) {
    if (k === 'qom-type' || k === 'id') continue;
    if (!allowed.includes(k)) throw new CliError(`Parameter '${k}' is unexpected`);
    if (!/^-?(0x[0-9a-fA-F]+|[0-9]+)$/.test(v)) throw new CliError(`Parameter '${k}' expects integer`);
  }
  try {
    checkObjectId(id);
  } catch (err) {
    throw err instanceof UserObjectError ? objectError(err) : err;
  }
  if (s.objects.has(id) || s.authz.has(id) || s.iothreads.has(id)) throw new CliError(`attempt to add duplicate property '${id}' to object (type 'container')`);
  s.iothreads.add(id);
}

/** One --object: a secret, TLS credentials or an authz object, made at once (file errors show here, as in qemu-nbd). */
function addObject(s: NbdCliSettings, arg: string): void {
  if (arg === 'help') throw new ObjectHelpRequested();
  // TYPE,help (other properties or not): that type's options, as qemu-nbd lists them.
  let help: string | undefined;
  try {
    help = userObjectHelp(arg, { iothread: IOTHREAD_OPTIONS });
  } catch (err) {
    throw err instanceof UserObjectError ? objectError(err) : err;
  }
  if (help !== undefined) throw new ObjectHelpRequested(help);
  const type = parseOptionString(arg, 'qom-type')['qom-type'] ?? '';
  if (type === '') throw new CliError("Parameter 'qom-type' is missing");
  if (type === 'iothread') {
    addIothread(s, parseOptionString(arg, 'qom-type'));
    return;
  }
  if (type === 'secret') {
    // Secrets live in the tools' shared registry, where drivers look key-secret up (a luks image's key).
    try {
      createUserObject(arg);
    } catch (err) {
      throw err instanceof UserObjectError ? objectError(err) : err;
    }
    return;
  }
  const obj = isAuthzType(type) ? parseAuthzObject(parseOptionString(arg, 'qom-type')) : parseTlsCredsObject(arg);
  if (s.objects.has(obj.id) || s.authz.has(obj.id)) throw new CliError(`attempt to add duplicate property '${obj.id}' to object (type 'container')`);
  if ('isAllowed' in obj) s.authz.set(obj.id, obj);
  else s.objects.set(obj.id, obj);
}

