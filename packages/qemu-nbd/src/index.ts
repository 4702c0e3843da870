// qemu-nbd as a library: main(argv, io?) serves one image until the last
// client leaves (or forever with -t), or lists another server's exports
// (-L), and resolves to the exit status. Errors are one qemu-nbd: line.
import { randomBytes } from 'node:crypto';
import { writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import {
  BlockError, createImage, openImage, type BlockBackend, type BlockDriverState, type BlockNode, type BlockOptions,
} from '@tsemu/block-core';
import type { NbdServerAddress } from '@tsemu/block-nbd';
import { forkServer, isForkedChild, reportReady } from './fork.js';
import { UsageError } from './getopt.js';
import { DEFAULT_BIND, helpText, versionText } from './help.js';
import { listExports } from './list.js';
import {
  ArgumentCountError, HelpRequested, VersionRequested, parseArgs, portNumber, type LoadSnapshotParam, type NbdCliSettings,
} from './options.js';
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
  const error = (line: string): void => void io.stderr.write(`${PROGRAM}: ${line}\n`);
  let settings: NbdCliSettings;
  try {
    settings = parseArgs(argv);
  } catch (err) {
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
    for (const line of (err instanceof Error ? err.message : String(err)).split('\n')) error(line);
    return 1;
  }
  try {
    if (settings.list) {
      const address = clientAddress(settings);
      const tls = settings.tls ? { creds: settings.tls, hostname: address.type === 'inet' ? address.host : undefined } : undefined;
      io.stdout.write(await listExports(address, tls));
      return 0;
    }
    if (settings.fork && !isForkedChild()) {
      return await forkServer(io.forkCommand ?? [process.execPath, ...process.execArgv, process.argv[1]!], argv);
    }
    return await serve(settings, io, error);
  } catch (err) {
    error(err instanceof Error ? err.message : String(err));
    return 1;
  }
}

function clientAddress(s: NbdCliSettings): NbdServerAddress {
  if (s.socket !== undefined) return { type: 'unix', path: s.socket };
  const host = s.bind ?? DEFAULT_BIND;
  return { type: 'inet', host, port: portNumber(s.port, host) };
}

async function serve(s: NbdCliSettings, io: Io, error: (line: string) => void): Promise<number> {
  const listenAt: NbdListenAddress = s.socket !== undefined
    ? { type: 'unix', path: s.socket }
    : { type: 'inet', host: s.bind ?? DEFAULT_BIND, port: portNumber(s.port, s.bind ?? DEFAULT_BIND) };
  const log = s.verbose ? (line: string): void => void io.stderr.write(`${PROGRAM}: ${line}\n`) : undefined;
  const onWarning = (line: string): void => void io.stderr.write(`${line}\n`);
  let file = s.file!;
  let format = s.format;
  // -s: the overlay goes away however serving ends; the exit hook covers an exit that skips the finally.
  let overlay: string | undefined;
  const removeOverlay = (): void => {
    if (overlay !== undefined) rmSync(overlay, { force: true });
  };
  try {
    if (s.snapshot) {
      try {
        overlay = await createOverlay(s, onWarning);
        process.once('exit', removeOverlay);
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        error(`Failed to blk_new_open '${s.file}': ${msg}`);
        return 1;
      }
      log?.(`temporary overlay ${overlay}`);
      file = overlay;
      format = 'qcow2';
    }
    return await serveImage(s, file, format, listenAt, io, error, log, onWarning);
  } finally {
    removeOverlay();
    process.off('exit', removeOverlay);
  }
}

/** -s: a qcow2 overlay in os.tmpdir() whose backing file is FILE (by absolute name, with its format). */
async function createOverlay(s: NbdCliSettings, onWarning: (line: string) => void): Promise<string> {
  const base = await openImage({ filename: s.file, format: s.format, readOnly: true, cache: s.cache ?? 'writeback', onWarning });
  let size: number;
  let baseFormat: string;
  try {
    size = await base.getLength();
    baseFormat = base.info().format;
  } finally {
    await base.close();
  }
  const name = s.file!;
  // Protocol names (nbd://, json:, null-co://) are kept as they are; plain paths made absolute.
  const backing = isAbsolute(name) || /^[a-z][a-z0-9+.-]*:/i.test(name) ? name : resolve(name);
  const overlay = join(tmpdir(), `tsemu-nbd-snapshot-${process.pid}-${randomBytes(6).toString('hex')}.qcow2`);
  try {
    await createImage({ filename: overlay, format: 'qcow2', size, options: { backing_file: backing, backing_fmt: baseFormat } });
  } catch (err) {
    rmSync(overlay, { force: true });
    throw err;
  }
  return overlay;
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

async function serveImage(
  s: NbdCliSettings, file: string, format: string | undefined, listenAt: NbdListenAddress, io: Io,
  error: (line: string) => void, log: ((line: string) => void) | undefined, onWarning: (line: string) => void,
): Promise<number> {
  let backend: BlockBackend;
  try {
    // -o: a raw node with `offset` over the image (its format node when a format is known).
    const offsetNode: BlockOptions | undefined = s.offset === undefined ? undefined
      : format === undefined ? { driver: 'raw', offset: String(s.offset), 'file.filename': file }
        : { driver: 'raw', offset: String(s.offset), 'file.driver': format, 'file.file.filename': file };
    backend = await openImage({
      filename: offsetNode ? undefined : file,
      options: offsetNode,
      format: offsetNode ? undefined : format,
      imageOpts: s.imageOpts,
      readOnly: s.readOnly,
      cache: s.cache ?? 'writeback',
      discard: s.discard,
      detectZeroes: s.detectZeroes,
      onWarning,
    });
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    error(`Failed to blk_new_open '${s.file}': ${msg}`);
    return 1;
  }
  if (s.loadSnapshot) {
    try {
      await loadSnapshot(backend, s.loadSnapshot);
    } catch (err) {
      await backend.close().catch(() => {});
      error(`Failed to load snapshot: ${err instanceof Error ? err.message : String(err)}`);
      return 1;
    }
  }
  let bitmaps: ExportedBitmap[];
  try {
    bitmaps = await exportedBitmaps(backend, s.bitmaps);
  } catch (err) {
    await backend.close().catch(() => {});
    error(err instanceof Error ? err.message : String(err));
    return 1;
  }
  let server: NbdServer;
  try {
    server = await NbdServer.create({
      exports: [{
        name: s.exportName, description: s.description, backend, readOnly: s.readOnly, multiConn: s.shared > 1,
        allocationDepth: s.allocationDepth, bitmaps,
      }],
      shared: s.shared,
      persistent: s.persistent,
      tls: s.tls,
      tlsAuthz: s.tlsAuthz,
      log,
      negotiationFailed: (reason) => error(`option negotiation failed: ${reason}`),
    });
  } catch (err) {
    await backend.close().catch(() => {});
    throw err;
  }
  let bound: NbdListenAddress;
  try {
    bound = await server.listen(listenAt);
  } catch (err) {
    await server.close();
    const where = listenAt.type === 'unix' ? listenAt.path : `${listenAt.host}:${listenAt.port}`;
    const text = err instanceof BlockError ? err.message : describeListenError(err);
    error(`Failed to bind socket to ${where}: ${text}`);
    return 1;
  }
  log?.(`listening on ${bound.type === 'unix' ? bound.path : `${bound.host}:${bound.port}`}`);
  if (s.pidFile) writeFileSync(s.pidFile, `${process.pid}\n`);
  io.onListening?.(bound);
  reportReady();

  const stop = new Promise<void>((resolve) => {
    io.signal?.addEventListener('abort', () => resolve(), { once: true });
    if (io.signal?.aborted) resolve();
    if (io.handleSignals) for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(sig, () => resolve());
  });
  await Promise.race([server.idle, stop]);
  await server.close();
  if (s.pidFile) rmSync(s.pidFile, { force: true });
  return 0;
}

function describeListenError(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === 'EADDRINUSE') return 'Address already in use';
  if (code === 'EACCES') return 'Permission denied';
  if (code === 'EADDRNOTAVAIL') return 'Cannot assign requested address';
  if (code === 'ENOENT') return 'No such file or directory';
  return err instanceof Error ? err.message : String(err);
}
