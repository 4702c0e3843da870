// The listening side: accepts clients on a TCP or unix socket, enforces the
// -e/--shared limit (extra clients wait, unanswered, until a slot frees, as
// qemu-nbd stops accepting), and reports when the last client has gone so a
// non-persistent server can exit.
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { unlinkSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { BlockError } from '@tsemu/block-core';
import { PSK_CIPHERS, loadTlsMaterial, lookupServerPsk, type NbdTlsCredentials } from '@tsemu/block-nbd';
import { NbdServerConnection, type ServerTls } from './connection.js';
import { NbdExport, type NbdExportSpec } from './export.js';
import type { TlsAuthzRef } from './tls-peer.js';

export type NbdListenAddress = { type: 'inet'; host: string; port: number } | { type: 'unix'; path: string };

export interface NbdServerOptions {
  exports: NbdExportSpec[];
  /** Simultaneous clients (-e); default 1, 0 for no limit (as qemu-nbd's -e 0). */
  shared?: number;
  /**
   * Accept connections but answer none until serveClients() (qemu-nbd listens before it opens
   * the image; its clients wait in the backlog meanwhile). Exports may be added until then.
   */
  holdClients?: boolean;
  /** Keep serving after the last client leaves (-t). Default false: 'idle' fires once the first client has come and gone. */
  persistent?: boolean;
  /** TLS credentials (endpoint=server): clients must STARTTLS before anything else. */
  tls?: NbdTlsCredentials;
  /** --tls-authz: checked against x509 clients' certificates (qemu-nbd 7.2 ignores it for PSK and verify-peer=off). */
  tlsAuthz?: TlsAuthzRef;
  log?: (line: string) => void;
  /** Called with qemu-nbd's reason when a client fails the handshake (qemu-nbd prints each on stderr). */
  negotiationFailed?: (reason: string) => void;
  /** Internal, for tests: negotiation time limit in ms (default QEMU's 10 s). */
  handshakeMaxMs?: number;
  /** Internal, for tests: unread reply bytes per client that stop its request intake (default 32 MiB). */
  writeLimit?: number;
}

export class NbdServer {
  private server: Server | null = null;
  private readonly exportMap = new Map<string, NbdExport>();
  private readonly connections = new Set<NbdServerConnection>();
  private readonly waiting: Socket[] = [];
  private served = 0;
  private unixPath: string | null = null;
  private idleResolve: (() => void) | null = null;
  readonly idle: Promise<void>;
  readonly shared: number;
  private readonly tls?: ServerTls;
  private holding: boolean;

  private constructor(private readonly options: NbdServerOptions) {
    this.shared = options.shared === 0 ? Infinity : Math.max(1, options.shared ?? 1);
    this.holding = options.holdClients ?? false;
    if (options.tls) {
      if (options.tls.endpoint !== 'server') throw new BlockError('EINVAL', 'Expecting TLS credentials with a server endpoint');
      this.tls = serverTls(options.tls, options.tlsAuthz);
    }
    this.idle = new Promise((resolve) => (this.idleResolve = resolve));
  }

  static async create(options: NbdServerOptions): Promise<NbdServer> {
    const s = new NbdServer(options);
    for (const spec of options.exports) s.exportMap.set(spec.name, await NbdExport.create(spec));
    return s;
  }

  /** Adds an export (for a server made with holdClients, before serveClients()). */
  async addExport(spec: NbdExportSpec): Promise<void> {
    this.exportMap.set(spec.name, await NbdExport.create(spec));
  }

  /** Starts answering clients (those that connected while held first, up to the -e limit). */
  serveClients(): void {
    this.holding = false;
    while (this.waiting.length && this.connections.size < this.shared) {
      const next = this.waiting.shift()!;
      next.resume();
      this.start(next);
    }
  }

  get exports(): ReadonlyMap<string, NbdExport> {
    return this.exportMap;
  }

  /** The clients being served (tests look at their queued reply bytes). */
  get clients(): ReadonlySet<NbdServerConnection> {
    return this.connections;
  }

  get clientCount(): number {
    return this.connections.size;
  }

  /** Sockets the listener still holds open (clients being served, waiting or closing): for leak checks. */
  socketCount(): Promise<number> {
    const server = this.server;
    if (!server) return Promise.resolve(0);
    return new Promise((resolve) => server.getConnections((err, n) => resolve(err ? -1 : n)));
  }

  /**
   * Starts listening; resolves with the bound address (port 0 picks a free port). `fd` is an
   * inherited listening socket (socket activation); the result is its address.
   */
  listen(address: NbdListenAddress | { type: 'fd'; fd: number }): Promise<NbdListenAddress> {
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      const done = (): void => {
        server.off('error', reject);
        server.on('error', (err) => this.options.log?.(`listener error: ${err.message}`));
        const a = server.address();
        if (address.type === 'unix') {
          // Only a path this server created is removed when it closes.
          this.unixPath = address.path;
          resolve(address);
        } else if (typeof a === 'string' || a === null) {
          // An inherited unix socket may not report its path: name the fd instead.
          resolve({ type: 'unix', path: a ?? `fd ${(address as { fd: number }).fd}` });
        } else {
          resolve({ type: 'inet', host: a!.address, port: a!.port });
        }
      };
      if (address.type === 'unix') server.listen(address.path, done);
      else if (address.type === 'fd') server.listen({ fd: address.fd }, done);
      else server.listen(address.port, address.host, done);
    });
  }

  private accept(socket: Socket): void {
    // Errors on a socket that is still waiting must not become uncaught exceptions.
    socket.on('error', () => socket.destroy());
    if (this.holding || this.connections.size >= this.shared) {
      socket.pause();
      this.waiting.push(socket);
      socket.once('close', () => {
        const i = this.waiting.indexOf(socket);
        if (i >= 0) this.waiting.splice(i, 1);
      });
      return;
    }
    this.start(socket);
  }

  private start(socket: Socket): void {
    this.served++;
    this.options.log?.(`accepted client ${this.served}`);
    const conn = new NbdServerConnection(socket, {
      exports: this.exportMap,
      tls: this.tls,
      log: this.options.log,
      negotiationFailed: this.options.negotiationFailed,
      handshakeMaxMs: this.options.handshakeMaxMs,
      writeLimit: this.options.writeLimit,
      onClose: (c) => this.onClose(c),
    });
    this.connections.add(conn);
  }

  private onClose(conn: NbdServerConnection): void {
    this.connections.delete(conn);
    const next = this.waiting.shift();
    if (next) {
      next.resume();
      this.start(next);
      return;
    }
    if (this.connections.size === 0 && !this.options.persistent) this.idleResolve?.();
  }

  /** Stops listening, drops every client and closes the exports' backends. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.waiting.splice(0)) s.destroy();
    for (const c of [...this.connections]) c.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.unixPath) {
      try {
        unlinkSync(this.unixPath);
      } catch {
        // already gone
      }
      this.unixPath = null;
    }
    for (const exp of this.exportMap.values()) {
      await exp.backend.flush().catch(() => {});
      await exp.backend.close().catch(() => {});
    }
    this.idleResolve?.();
  }
}

/** node:tls settings for server credentials: certificates (x509) or keys.psk looked up per client (PSK). */
function serverTls(creds: NbdTlsCredentials, authz: TlsAuthzRef | undefined): ServerTls {
  if (creds.type === 'psk') {
    const dir = creds.dir;
    // An unknown identity gets a random key: the handshake then fails exactly as with a wrong key
    // (GnuTLS reports both alike), instead of OpenSSL falling back to certificates it does not have.
    const pskKey = (identity: string): Buffer => lookupServerPsk(dir, identity) ?? randomBytes(32);
    return { context: createSecureContext({ ciphers: PSK_CIPHERS }), verifyPeer: false, pskKey };
  }
  const { ca, cert, key } = loadTlsMaterial(creds);
  return { context: createSecureContext({ ca, cert, key }), verifyPeer: creds.verifyPeer, authz };
}
