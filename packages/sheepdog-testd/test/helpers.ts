// Shared set-up for tests against the peer: a temp folder per peer, removed
// on cleanup, and small helpers to read the request log.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openImage, type BlockBackend } from '@tsemu/block-core';
import { registerSheepdog, newVdi, type SheepdogAddress, type SheepdogImage, SD_OP_CREATE_AND_WRITE_OBJ, SD_OP_WRITE_OBJ, SD_OP_READ_OBJ, SD_OP_FLUSH_VDI } from '@tsemu/block-sheepdog';
import { SheepdogTestServer, type SheepdogTestServerOptions, type LoggedRequest } from '../src/index.js';

registerSheepdog();

export interface Peer {
  server: SheepdogTestServer;
  dir: string;
  /** Stops the peer (flushing its cache unless it already crashed) and removes its folder. */
  cleanup(): Promise<void>;
}

export async function startPeer(opts: Partial<SheepdogTestServerOptions> = {}): Promise<Peer> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'tsemu-sheepd-')));
  const server = await SheepdogTestServer.start({ ...opts, dir });
  return {
    server,
    dir,
    async cleanup() {
      await server.close({ crash: true });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Restarts a peer on the same folder (new port); the old one is closed first. */
export async function restartPeer(peer: Peer, opts: Partial<SheepdogTestServerOptions> & { crash?: boolean } = {}): Promise<Peer> {
  const port = peer.server.opts.socketPath ? undefined : peer.server.port; // clients come back to the same address
  await peer.server.close({ crash: opts.crash ?? false });
  const server = await SheepdogTestServer.start({ ...peer.server.opts, port, ...opts, dir: peer.dir });
  return {
    server,
    dir: peer.dir,
    async cleanup() {
      await server.close({ crash: true });
      await rm(peer.dir, { recursive: true, force: true });
    },
  };
}

export async function createVdi(server: SheepdogTestServer, name: string, size: number): Promise<number> {
  return newVdi({ host: '127.0.0.1', port: server.port }, name, size, 0, false);
}

export function openVdi(server: SheepdogTestServer, name: string, cache: string, options: Record<string, string> = {}): Promise<BlockBackend> {
  return openImage({ filename: server.uri(name), format: 'raw', cache, options: Object.keys(options).length ? { ...options } : undefined });
}

/** Object traffic only (no VDI ops), as [opcode, flags] pairs in arrival order. */
export function objectTraffic(log: LoggedRequest[]): Array<[number, number]> {
  const objOps = new Set([SD_OP_CREATE_AND_WRITE_OBJ, SD_OP_WRITE_OBJ, SD_OP_READ_OBJ, SD_OP_FLUSH_VDI]);
  return log.filter((e) => objOps.has(e.opcode)).map((e) => [e.opcode, e.flags]);
}

export function pattern(length: number, seed: number): Uint8Array {
  const buf = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    buf[i] = x & 0xff;
  }
  return buf;
}

/** The sheepdog driver state under a raw-on-sheepdog backend (snapshot calls go here: block-core has no hook yet). */
export function imageOf(bb: BlockBackend): SheepdogImage {
  const node = bb.root.file ?? bb.root;
  return node.state as unknown as SheepdogImage;
}

/** The peer's TCP address, for the driver's wire-level helpers. */
export function peerAddress(p: Peer): SheepdogAddress {
  return { host: '127.0.0.1', port: p.server.port };
}
