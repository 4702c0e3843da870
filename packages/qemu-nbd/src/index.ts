// qemu-nbd as a library: main(argv, io?) serves one image until the last
// client leaves (or forever with -t), or lists another server's exports
// (-L), and resolves to the exit status. Errors are one qemu-nbd: line.
import { existsSync, writeFileSync, rmSync } from 'node:fs';
import {
  openImage, parseOptionString, type BlockBackend, type BlockDriverState, type BlockNode, type BlockOptions,
} from '@tsemu/block-core';
import type { NbdServerAddress } from '@tsemu/block-nbd';
import { forkServer, isForkedChild, reportReady } from './fork.js';
import { UsageError } from './getopt.js';
import { DEFAULT_BIND, helpText, versionText } from './help.js';
import { listExports } from './list.js';
import {
  ArgumentCountError, HelpRequested, ObjectHelpRequested, TraceHelpRequested, USER_CREATABLE, VersionRequested, parseArgs, refuseKernelDevice,
  type LoadSnapshotParam, type NbdCliSettings,
} from './options.js';
import { bindFailure, errnoText, prepareUnixPath, resolveInet } from './address.js';
import { TRACE_EVENT_NAMES } from '@tsemu/block-core';
import { checkActivationSocket } from './socket-activation.js';
import { NbdServer, type NbdListenAddress } from './server.js';
import { exportedBitmaps } from './bitmap-extents.js';
import type { ExportedBitmap } from './export.js';
import { registerAllDrivers } from '@tsemu/block-drivers';

export { NbdServer, type NbdListenAddress, type NbdServerOptions } from './server.js';
export { NbdExport, type NbdExportSpec } from './export.js';
export { NbdServerConnection, MAX_REQUESTS, HANDSHAKE_MAX_MS, WRITE_LIMIT } from './connection.js';
export { formatExportList, listExports } from './list.js';
export { helpText, versionText, DEFAULT_BIND } from './help.js';
export { parseArgs, type NbdCliSettings, type LoadSnapshotParam } from './options.js';
export { parseAuthzObject, globMatch, type NbdAuthz } from './authz.js';
export { gnutlsDn, type TlsAuthzRef } from './tls-peer.js';

export interface OutputStream {
  write(chunk: string): unknown;
}

export interface Io {
  stdout: OutputStream;
  stderr: OutputStream;
  /** Stops a running server (tests, embedding); the CLI stops on SIGTERM/SIGINT instead. */
  signal?: AbortSignal;
  /** Called once the server listens, with the bound address (port 0 resolved). */
  onListening?: (address: NbdListenAddress) => void;
  /** How to re-run this program for --fork: [node, ...script]; default process.execPath + process.argv[1]. */
  forkCommand?: string[];
  /** Install SIGTERM/SIGINT/SIGHUP handlers that shut the server down cleanly (the CLI does). */
  handleSignals?: boolean;
}

const PROGRAM = 'qemu-nbd';
const DEFAULT_IO: Io = { stdout: process.stdout, stderr: process.stderr };

export async function main(argv: string[], io: Io = DEFAULT_IO): Promise<number> {
  registerAllDrivers();
  // A message's lines each get the prefix, except those marked with a leading NUL (qemu's hints).
  const report = (prefix: string, message: string): void => {
    for (const line of message.split('\n')) io.stderr.write(line.startsWith('\0') ? `${line.slice(1)}\n` : `${prefix}${line}\n`);
  };
  // Parse errors: every line prefixed (-l's two lines), save the marked ones.
  const parseError = (message: string): void => report(`${PROGRAM}: `, message);
  // Later errors are one error_report: the prefix on the first line only (the lock error's hint line has none).
  const error = (message: string): void => void io.stderr.write(`${PROGRAM}: ${message.replaceAll('\n\0', '\n')}\n`);
  const warn = (text: string, where?: string): void => report(`${PROGRAM}:${where ? `${where}:` : ''} warning: `, text);
  let settings: NbdCliSettings;
  try {
    // A --fork child parses the same command line again: its parent has printed the warnings.
    settings = parseArgs(argv, isForkedChild() ? () => {} : warn);
  } catch (err) {
    if (err instanceof ObjectHelpRequested) {
      io.stdout.write(err.text ?? `List of user creatable objects:\n${USER_CREATABLE.map((t) => `  ${t}\n`).join('')}`);
      return 0;
    }
    if (err instanceof TraceHelpRequested) {
      io.stdout.write(`${TRACE_EVENT_NAMES.join('\n')}\n`);
      return 0;
    }
    if (err instanceof HelpRequested) {
      io.stdout.write(helpText());
      return 0;
    }
    if (err instanceof VersionRequested) {
      io.stdout.write(versionText());
      return 0;
    }
    if (err instanceof UsageError) {
      // getopt's complaints: both lines carry the program prefix, as glibc + qemu-nbd print them.
      error(err.message);
      error(`Try \`${PROGRAM} --help' for more information.`);
      return 1;
    }
    if (err instanceof ArgumentCountError) {
      error(err.message);
      io.stderr.write(`Try \`${PROGRAM} --help' for more information.\n`);
      return 1;
    }
    // Some bad arguments take several lines (-l: the parse error, then "Failed in parsing ...").
    parseError(err instanceof Error ? err.message : String(err));
    return 1;
  }
  try {
    if (settings.list) {
      const address = await clientAddress(settings);
      const hostname = settings.tlsHostname ?? (address.type === 'inet' ? address.host : undefined);
      const tls = settings.tls ? { creds: settings.tls, hostname } : undefined;
      try {
        io.stdout.write(await listExports(address, tls));
      } catch (err) {
        // qemu names the port as it was given (-p 99999), not as getaddrinfo reduced it.
        if (address.type === 'inet' && settings.port !== undefined && err instanceof Error) {
          err.message = err.message.replace(`'${address.host}:${address.port}'`, `'${address.host}:${settings.port}'`);
        }
        throw err;
      }
      return 0;
    }
    refuseKernelDevice(settings);
    if (settings.fork && !isForkedChild()) {
      return await forkServer(io.forkCommand ?? [process.execPath, ...process.execArgv, process.argv[1]!], argv);
    }
    return await serve(settings, io, error);
  } catch (err) {
    error(err instanceof Error ? err.message : String(err));
    return 1;
  }
}

async function clientAddress(s: NbdCliSettings): Promise<NbdServerAddress> {
  if (s.socket !== undefined) return { type: 'unix', path: s.socket };
  const host = s.bind ?? DEFAULT_BIND;
  return { type: 'inet', host, port: (await resolveInet(host, s.port ?? '10809')).port };
}

/** Where to listen (checked, and a stale unix socket file removed, as qemu-nbd does before binding). */
async function listenAddress(s: NbdCliSettings): Promise<NbdListenAddress | { type: 'fd'; fd: number }> {
  if (s.activationFd !== undefined) {
    checkActivationSocket();
    return { type: 'fd', fd: s.activationFd };
  }
  if (s.socket !== undefined) {
    prepareUnixPath(s.socket);
    return { type: 'unix', path: s.socket };
  }
  return { type: 'inet', ...await resolveInet(s.bind ?? DEFAULT_BIND, s.port ?? '10809') };
}

async function serve(s: NbdCliSettings, io: Io, error: (line: string) => void): Promise<number> {
  const log = s.verbose ? (line: string): void => void io.stderr.write(`${PROGRAM}: ${line}\n`) : undefined;
  // Signals are handled from the start, as qemu-nbd's: one during set-up stops the server right after it.
  const stop = new Promise<void>((resolve) => {
    io.signal?.addEventListener('abort', () => resolve(), { once: true });
    if (io.signal?.aborted) resolve();
    if (io.handleSignals) for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(sig, () => resolve());
  });
  // As qemu-nbd: listen first (address errors come before image errors); clients wait until the export exists.
  const listenAt = await listenAddress(s);
  const server = await NbdServer.create({
    exports: [],
    holdClients: true,
    shared: s.shared,
    persistent: s.persistent,
    tls: s.tls,
    tlsAuthz: s.tlsAuthz,
    log,
    negotiationFailed: (reason) => error(`option negotiation failed: ${reason}`),
  });
  let bound: NbdListenAddress;
  try {
    bound = await server.listen(listenAt);
  } catch (err) {
    await server.close();
    error(bindFailure(listenAt, (err as { code?: string }).code));
    return 1;
  }
  const onWarning = (line: string): void => void io.stderr.write(`${line}\n`);
  try {
    if (!await exportImage(s, server, s.file!, s.format, error, onWarning)) return 1;
    log?.(`listening on ${bound.type === 'unix' ? bound.path : `${bound.host}:${bound.port}`}`);
    // An empty --pid-file= is a path too (qemu-nbd: "Could not create ''").
    if (s.pidFile !== undefined) {
      const problem = writePidFile(s.pidFile);
      if (problem) {
        error(problem);
        return 1;
      }
    }
    io.onListening?.(bound);
    reportReady();
    server.serveClients();
    await Promise.race([server.idle, stop]);
    if (s.pidFile) rmSync(s.pidFile, { force: true });
    return 0;
  } finally {
    await server.close();
  }
}

/** qemu_write_pidfile's checks; the message on failure. */
function writePidFile(path: string): string | undefined {
  try {
    writeFileSync(path, `${process.pid}\n`);
    return undefined;
  } catch (err) {
    return `Could not create '${path}': ${errnoText((err as { code?: string }).code)}`;
  }
}

/** -l: the first node from the root down its `file` children that can load a snapshot temporarily, as QEMU falls back. */
function snapshotState(backend: BlockBackend): BlockDriverState | undefined {
  for (let node: BlockNode | undefined = backend.root; node; node = node.file) {
    if (node.state.loadSnapshotReadOnly) return node.state;
  }
  return undefined;
}

async function loadSnapshot(backend: BlockBackend, param: LoadSnapshotParam): Promise<void> {
  const state = snapshotState(backend);
  if (!state) {
    throw new Error(`Block format '${backend.info().format}' used by device '' does not support temporarily loading internal snapshots`);
  }
  if (param.kind === 'options') {
    await state.loadSnapshotReadOnly!(param.id, param.name);
    return;
  }
  // A bare argument is an id first, then a name.
  try {
    await state.loadSnapshotReadOnly!(param.idOrName, undefined);
  } catch {
    await state.loadSnapshotReadOnly!(undefined, param.idOrName);
  }
}

/** -o: QEMU's raw node with `offset` over the opened image's format node (`format`, probed or given). */
function offsetOptions(s: NbdCliSettings, file: string, format: string, offset: bigint): BlockOptions {
  if (s.imageOpts) {
    const opts: BlockOptions = { driver: 'raw', offset: offset.toString() };
    for (const [k, v] of Object.entries(parseOptionString(file))) opts[`file.${k}`] = v;
    return opts;
  }
  return { driver: 'raw', offset: offset.toString(), 'file.driver': format, 'file.file.filename': file };
}

// The raw offset node's own message for an offset that does not fit a signed 64-bit number.
const OFFSET_RANGE_ERROR = "Parameter 'offset' expects a non-negative number below 2^64\n"
  + '\0Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n\0and exabytes, respectively.';

/** Opens the image as qemu-nbd does (-o, -l, -B on top) and adds it to the held server; false after an error. */
async function exportImage(
  s: NbdCliSettings, server: NbdServer, file: string, format: string | undefined,
  error: (message: string) => void, onWarning: (line: string) => void,
): Promise<boolean> {
  if (s.imageOpts && s.format) {
    error('--image-opts and -f are mutually exclusive');
    return false;
  }
  // -s: QEMU's snapshot=on, a temporary qcow2 overlay (unlinked once open) takes the writes.
  const common = { readOnly: s.readOnly, cache: s.cache ?? 'writeback', discard: s.discard, detectZeroes: s.detectZeroes, onWarning, snapshot: s.snapshot } as const;
  let backend: BlockBackend;
  // QEMU's file driver refuses aio=native without O_DIRECT once it has opened the file, before any format probe.
  if (s.aio === 'native' && !s.cache?.direct && !s.imageOpts && !/^[a-z][a-z0-9+.-]*:/i.test(file) && existsSync(file)) {
    error(`Failed to blk_new_open '${s.file}': aio=native was specified, but it requires cache.direct=on, which was not specified.`);
    return false;
  }
  try {
    backend = await openImage({ filename: file, format, imageOpts: s.imageOpts, imageOptsReference: true, ...common });
  } catch (err) {
    error(`Failed to blk_new_open '${s.file}': ${err instanceof Error ? err.message : String(err)}`);
    return false;
  }
  const fail = async (message: string): Promise<false> => {
    await backend.close().catch(() => {});
    error(message);
    return false;
  };
  if (s.offset !== undefined) {
    // qemu-nbd then opens a raw node with `offset` over the image's (probed) format node.
    if (s.offset >= 1n << 63n) return fail(OFFSET_RANGE_ERROR);
    const size = BigInt(await backend.getLength());
    if (s.offset > size) return fail(`Offset (${s.offset}) cannot be greater than size of the containing file (${size})`);
    // Under -s the root is the overlay: the image's own format is its backing node's.
    const probed = s.snapshot && backend.root.backing ? backend.root.backing.driver.name : backend.info().format;
    await backend.close();
    try {
      backend = await openImage({ options: offsetOptions(s, file, probed, s.offset), ...common, onWarning: () => {} });
    } catch (err) {
      error(err instanceof Error ? err.message : String(err));
      return false;
    }
  }
  if (s.loadSnapshot) {
    try {
      await loadSnapshot(backend, s.loadSnapshot);
    } catch (err) {
      return fail(`Failed to load snapshot: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  let bitmaps: ExportedBitmap[];
  try {
    bitmaps = await exportedBitmaps(backend, s.bitmaps);
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
  try {
    await server.addExport({
      name: s.exportName, description: s.description, backend, readOnly: s.readOnly, multiConn: s.shared !== 1,
      allocationDepth: s.allocationDepth, bitmaps,
    });
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
  return true;
}
