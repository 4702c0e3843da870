// BlockDriver 'nbd': a protocol node backed by one NbdClient connection.
// Requests larger than the server's maximum block are split; block status
// comes from base:allocation when the server offers it.
import {
  BlockError, sliceIov, type BlockDriver, type BlockDriverState, type BlockNode, type BlockStatus, type OpenContext,
  type WriteFlags, type ZeroFlags,
} from '@tsemu/block-core';
import {
  NBD_CMD_FLAG_FAST_ZERO, NBD_CMD_FLAG_FUA, NBD_CMD_FLAG_NO_HOLE, NBD_FLAG_READ_ONLY, NBD_FLAG_SEND_FAST_ZERO,
  NBD_FLAG_SEND_FUA, NBD_FLAG_SEND_TRIM, NBD_FLAG_SEND_WRITE_ZEROES, NBD_MAX_PAYLOAD, NBD_STATE_HOLE, NBD_STATE_ZERO,
} from '../constants.js';
import { NbdClient } from './client.js';
import type { NbdClientTls } from './tls.js';
import { findTlsCredentials } from '../tls-creds.js';
import { addressFromOptions, canonicalNbdFilename, parseNbdFilename } from './filename.js';

/** Trim and write-zeroes are sent in pieces of at most this (their length field is 32 bits). */
const MAX_ZERO_REQUEST = 1 << 30;

export class NbdDriverState implements BlockDriverState {
  readonly requestAlignment: number;
  readonly supportsFua: boolean;
  private readonly maxTransfer: number;
  private readonly flags: number;

  constructor(readonly client: NbdClient, private readonly node: BlockNode) {
    const info = client.info;
    this.flags = info.flags;
    const min = info.minBlock ?? 1;
    this.requestAlignment = min >= 1 && min <= 65536 && (min & (min - 1)) === 0 ? min : 1;
    const max = info.maxBlock && info.maxBlock >= this.requestAlignment ? info.maxBlock : NBD_MAX_PAYLOAD;
    this.maxTransfer = Math.min(max, NBD_MAX_PAYLOAD) - (Math.min(max, NBD_MAX_PAYLOAD) % this.requestAlignment);
    this.supportsFua = (this.flags & NBD_FLAG_SEND_FUA) !== 0;
  }

  async getLength(): Promise<number> {
    return this.client.info.size;
  }

  async preadv(offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    const max = this.maxTransfer;
    if (length <= max) return this.client.read(offset, length, iov);
    const parts: Promise<void>[] = [];
    for (let pos = 0; pos < length; pos += max) {
      const n = Math.min(max, length - pos);
      parts.push(this.client.read(offset + pos, n, sliceIov(iov, pos, n)));
    }
    await Promise.all(parts);
  }

  async pwritev(offset: number, length: number, iov: Uint8Array[], flags: WriteFlags): Promise<void> {
    const f = flags.fua && this.supportsFua ? NBD_CMD_FLAG_FUA : 0;
    const max = this.maxTransfer;
    if (length <= max) return this.client.write(offset, length, iov, f);
    const parts: Promise<void>[] = [];
    for (let pos = 0; pos < length; pos += max) {
      const n = Math.min(max, length - pos);
      parts.push(this.client.write(offset + pos, n, sliceIov(iov, pos, n), f));
    }
    await Promise.all(parts);
  }

  async pwriteZeroes(offset: number, length: number, flags: ZeroFlags): Promise<void> {
    if ((this.flags & NBD_FLAG_SEND_WRITE_ZEROES) === 0) throw new BlockError('ENOTSUP');
    let f = flags.fua && this.supportsFua ? NBD_CMD_FLAG_FUA : 0;
    if (!flags.mayUnmap) f |= NBD_CMD_FLAG_NO_HOLE;
    if (flags.noFallback) {
      if ((this.flags & NBD_FLAG_SEND_FAST_ZERO) === 0) throw new BlockError('ENOTSUP');
      f |= NBD_CMD_FLAG_FAST_ZERO;
    }
    await this.pieces(offset, length, (o, n) => this.client.writeZeroes(o, n, f));
  }

  async pdiscard(offset: number, length: number): Promise<void> {
    if ((this.flags & NBD_FLAG_SEND_TRIM) === 0) return;
    await this.pieces(offset, length, (o, n) => this.client.trim(o, n));
  }

  private async pieces(offset: number, length: number, send: (o: number, n: number) => Promise<void>): Promise<void> {
    const step = MAX_ZERO_REQUEST - (MAX_ZERO_REQUEST % this.requestAlignment);
    for (let pos = 0; pos < length; pos += step) await send(offset + pos, Math.min(step, length - pos));
  }

  async flush(): Promise<void> {
    return this.client.flush();
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    const size = this.client.info.size;
    const n = Math.max(0, Math.min(length, size - offset, 0x7fffffff - (0x7fffffff % this.requestAlignment)));
    if (n === 0) return { length: 0, data: false, zero: true, allocated: false };
    const st = await this.client.blockStatus(offset, n);
    if (st === undefined) return { length: n, data: true, zero: false, allocated: true, offset, file: this.node };
    const hole = (st.flags & NBD_STATE_HOLE) !== 0;
    const zero = (st.flags & NBD_STATE_ZERO) !== 0;
    // As QEMU's nbd driver: everything is "allocated" at the protocol level, holes are just not data.
    return { length: st.length, data: !hole, zero, allocated: true, offset, file: this.node };
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

export const nbdDriver: BlockDriver = {
  name: 'nbd',
  kind: 'protocol',
  protocols: ['nbd', 'nbd+unix', 'nbd+tcp'],
  noInfo: true,
  openOptions: [
    'filename', 'server', 'server.type', 'server.host', 'server.port', 'server.path', 'host', 'port', 'path', 'export',
    'tls-creds', 'tls-hostname', 'x-dirty-bitmap', 'reconnect-delay', 'open-timeout',
  ],
  parseFilename: parseNbdFilename,
  async open(ctx: OpenContext): Promise<BlockDriverState> {
    const opts = ctx.options;
    if (opts['x-dirty-bitmap'] !== undefined) throw new BlockError('ENOTSUP', 'x-dirty-bitmap is not supported by this NBD client');
    const address = addressFromOptions(opts);
    const exportName = opts.export ?? '';
    let tls: NbdClientTls | undefined;
    if (opts['tls-creds'] !== undefined) {
      const creds = findTlsCredentials(opts['tls-creds']);
      if (creds.endpoint !== 'client') throw new BlockError('EINVAL', 'Expected TLS credentials for a client endpoint');
      tls = { creds, hostname: opts['tls-hostname'] ?? (address.type === 'inet' ? address.host : undefined) };
    }
    const client = await NbdClient.connect(address, exportName, tls);
    if (!ctx.readOnly && (client.info.flags & NBD_FLAG_READ_ONLY) !== 0) {
      await client.close();
      // QEMU 7.2's words (bdrv_apply_auto_read_only without auto-read-only).
      throw new BlockError('EACCES', 'Could not open image: Permission denied');
    }
    ctx.node.filename = canonicalNbdFilename(address, exportName);
    return new NbdDriverState(client, ctx.node);
  },
};
