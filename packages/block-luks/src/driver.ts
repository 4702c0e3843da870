// luks: QEMU's format for a whole LUKS1 volume (qemu-img create -f luks). It
// probes by the LUKS magic, so such an image is never taken for raw (where
// a write would land in the key material). tsemu does not decrypt: info
// shows the header as qemu-img does; anything that reads or writes data asks
// for the key as QEMU does, then says "not supported".
import {
  BlockError, type BlockDriver, type BlockDriverState, type BlockNode, type CreateContext, type DriverInfo, type OpenContext,
} from '@tsemu/block-core';
import { isLuksHeader, LUKS_HEADER_BYTES, parseLuksHeader } from './luks-header.js';
import { checkKeySecret, checkLuksEnums } from './luks-options.js';

const notSupported = (): BlockError => new BlockError('ENOTSUP', 'luks: encrypted images are not supported');

/** An opened luks image: its size and header only (qemu-img info opens with no I/O). */
class LuksHeaderState implements BlockDriverState {
  readonly requestAlignment = 512;

  constructor(private readonly file: BlockNode, private readonly payloadOffset: number, private readonly data: Record<string, unknown>) {}

  /** The payload after the header and key material. */
  async getLength(): Promise<number> {
    return Math.max(0, (await this.file.getLength()) - this.payloadOffset);
  }

  preadv(): Promise<void> {
    return Promise.reject(notSupported());
  }

  pwritev(): Promise<void> {
    return Promise.reject(notSupported());
  }

  info(): DriverInfo {
    return { encrypted: true, dirty: false, formatSpecific: { type: 'luks', data: this.data } };
  }

  async close(): Promise<void> {}
}

async function openLuks(ctx: OpenContext): Promise<BlockDriverState> {
  // QEMU asks for the key before it reads the header; info (no I/O) needs none.
  if (!ctx.noIo && ctx.options['key-secret'] === undefined) throw new BlockError('EINVAL', "Parameter 'key-secret' is required for cipher");
  const file = await ctx.openChild('file');
  const buf = new Uint8Array(LUKS_HEADER_BYTES);
  const inFile = Math.min(buf.length, await file.getLength());
  if (inFile > 0) await file.read(0, buf.subarray(0, inFile));
  const header = parseLuksHeader(buf);
  if (!ctx.noIo) throw notSupported();
  return new LuksHeaderState(file, header.payloadOffset, header.info);
}

/** Creation: QEMU's checks up to where it would derive a key from the secret. */
async function createLuks(ctx: CreateContext): Promise<void> {
  const o = ctx.options;
  checkLuksEnums(o);
  checkKeySecret('key-secret', o['key-secret'], ctx.secret);
  throw notSupported();
}

export const luksDriver: BlockDriver = {
  name: 'luks',
  kind: 'format',
  // As QEMU: the magic and version 1 (any other version probes as something else, raw at worst).
  probe: (header: Uint8Array) => (isLuksHeader(header) && header.length >= 8 && header[6] === 0 && header[7] === 1 ? 100 : 0),
  open: openLuks,
  create: createLuks,
  // QEMU's order (the Formatting line's).
  createOptions: [
    { name: 'size', type: 'size', help: 'Virtual disk size' },
    { name: 'key-secret', type: 'string', help: 'ID of the secret that provides the keyslot passphrase' },
    { name: 'cipher-alg', type: 'string', help: 'Name of encryption cipher algorithm' },
    { name: 'cipher-mode', type: 'string', help: 'Name of encryption cipher mode' },
    { name: 'ivgen-alg', type: 'string', help: 'Name of IV generator algorithm' },
    { name: 'ivgen-hash-alg', type: 'string', help: 'Name of IV generator hash algorithm' },
    { name: 'hash-alg', type: 'string', help: 'Name of encryption hash algorithm' },
    { name: 'iter-time', type: 'number', help: 'Time to spend in PBKDF in milliseconds' },
  ],
  openOptions: ['key-secret', 'file'],
  // The key secret is part of what the node is (a json:{...} name shows it).
  strongOptions: ['key-secret'],
};
