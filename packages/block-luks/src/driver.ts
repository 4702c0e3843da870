// luks: QEMU's format for a whole LUKS1 volume (qemu-img create -f luks). It
// probes by the LUKS magic, so such an image is never taken for raw (where
// a write would land in the key material). With the key (key-secret) the
// payload is read and written through the volume's cipher (luks-crypto.ts);
// info (no I/O) shows the header without one, as qemu-img does; create
// formats a new volume (luks-format.ts).
import {
  BlockError, copyFromIov, copyToIov, type BlockDriver, type BlockDriverState, type BlockNode, type CreateContext,
  type DriverInfo, type OpenContext, type Preallocation, type WriteFlags,
} from '@tsemu/block-core';
import { LUKS_SECTOR, SectorCipher, unlockMasterKey } from './luks-crypto.js';
import { isLuksHeader, LUKS_HEADER_BYTES, parseLuksHeader } from './luks-header.js';
import { formatLuks, luksCreateParams, luksPayloadOffset } from './luks-format.js';
import { checkKeySecret, checkLuksEnums } from './luks-options.js';
import { amendKeyslots, keyslotAmendOptions } from './luks-keyslots.js';

/** The passphrase that unlocked an image and the secret objects, for amend's keyslot changes. */
interface LuksKeys {
  passphrase: Uint8Array;
  secret: (id: string) => Uint8Array | undefined;
}

/** An opened luks image: the payload after the header and key material, deciphered with the master key. */
class LuksState implements BlockDriverState {
  readonly requestAlignment = LUKS_SECTOR;

  constructor(
    private readonly file: BlockNode, private readonly payloadOffset: number, private readonly data: Record<string, unknown>,
    private readonly cipher: SectorCipher | undefined, private readonly keys: LuksKeys | undefined,
  ) {}

  async getLength(): Promise<number> {
    return Math.max(0, (await this.file.getLength()) - this.payloadOffset);
  }

  async preadv(offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    const cipher = this.keyed();
    await this.file.readv(this.payloadOffset + offset, iov);
    // The generic layer aligns requests to whole sectors; a buffer of the vector may still split one.
    const whole = joinIfSplit(iov, length);
    cipher.decrypt(whole, offset / LUKS_SECTOR);
    if (whole !== iov[0]) copyToIov(whole, 0, iov);
  }

  async pwritev(offset: number, length: number, iov: Uint8Array[], flags: WriteFlags): Promise<void> {
    const cipher = this.keyed();
    // Encipher a copy: the caller's buffers stay plaintext.
    const data = gather(iov, length);
    cipher.encrypt(data, offset / LUKS_SECTOR);
    await this.file.writev(this.payloadOffset + offset, [data], flags);
  }

  /** The cipher; an open without I/O (info) has none, and nothing may read or write through it. */
  private keyed(): SectorCipher {
    if (this.cipher === undefined) throw new BlockError('EPERM', 'luks: opened without a key');
    return this.cipher;
  }

  /** The payload grows or shrinks with the file (new sectors read as whatever the file's zeroes decipher to, as in QEMU). */
  async truncate(size: number, exact: boolean, prealloc: Preallocation): Promise<void> {
    await this.file.truncate(this.payloadOffset + size, exact, prealloc);
  }

  info(): DriverInfo {
    return { encrypted: true, dirty: false, formatSpecific: { type: 'luks', data: this.data } };
  }

  /** qemu-img amend: key slots (luks-keyslots.ts). */
  async amendImage(options: Record<string, string>, force: boolean): Promise<void> {
    const keys = this.keys;
    if (keys === undefined) throw new BlockError('EPERM', 'luks: opened without a key');
    const file = this.file;
    await amendKeyslots({
      read: async (offset, length) => { const b = new Uint8Array(length); await file.read(offset, b); return b; },
      write: (offset, data) => file.write(offset, data),
    }, keyslotAmendOptions(options), keys.passphrase, keys.secret, force);
  }

  async close(): Promise<void> {}
}

/** The vector as one buffer: iov[0] itself when it holds all `length` bytes, else a copy. */
function joinIfSplit(iov: Uint8Array[], length: number): Uint8Array {
  return iov.length === 1 && iov[0]!.length === length ? iov[0]! : gather(iov, length);
}

/** A copy of the vector's `length` bytes in one buffer. */
function gather(iov: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  copyFromIov(iov, out, 0);
  return out;
}

async function openLuks(ctx: OpenContext): Promise<BlockDriverState> {
  // QEMU asks for the key before it reads the header; info (no I/O) needs none.
  const secretId = ctx.options['key-secret'];
  if (!ctx.noIo && secretId === undefined) throw new BlockError('EINVAL', "Parameter 'key-secret' is required for cipher");
  const file = await ctx.openChild('file');
  const buf = new Uint8Array(LUKS_HEADER_BYTES);
  const inFile = Math.min(buf.length, await file.getLength());
  if (inFile > 0) await file.read(0, buf.subarray(0, inFile));
  const header = parseLuksHeader(buf);
  if (ctx.noIo) return new LuksState(file, header.payloadOffset, header.info, undefined, undefined);
  const passphrase = ctx.secret?.(secretId!);
  if (passphrase === undefined) throw new BlockError('EINVAL', `No secret with id '${secretId}'`);
  const fileLength = await file.getLength();
  const masterKey = await unlockMasterKey(header.crypto, passphrase, async (offset, length) => {
    if (offset + length > fileLength) throw new BlockError('EINVAL', 'Could not read key slot material');
    const material = new Uint8Array(length);
    await file.read(offset, material);
    return material;
  });
  const secret = ctx.secret!;
  return new LuksState(file, header.payloadOffset, header.info, new SectorCipher(header.crypto, masterKey), { passphrase, secret });
}

/** A new volume: QEMU's option checks, then the header and slot 0 for the secret's passphrase, the payload left sparse. */
async function createLuks(ctx: CreateContext): Promise<void> {
  const o = ctx.options;
  checkLuksEnums(o);
  checkKeySecret('key-secret', o['key-secret'], ctx.secret);
  const formatted = formatLuks(luksCreateParams(o), ctx.secret!(o['key-secret']!)!);
  await ctx.createFile(ctx.filename, 0, {});
  const node = await ctx.openFile(ctx.filename);
  try {
    await node.write(0, formatted.header);
    await node.write(formatted.materialOffset, formatted.material);
    await node.truncate(formatted.payloadOffset + ctx.size);
    await node.flush();
  } finally {
    await node.close();
  }
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
  // QEMU's amend list for luks, sorted as `amend -o help` prints it.
  amendOptions: [
    { name: 'iter-time', type: 'number', help: 'Time to spend in PBKDF in milliseconds' },
    { name: 'keyslot', type: 'number', help: 'Select a single keyslot to modify explicitly' },
    { name: 'new-secret', type: 'string', help: 'New secret to set in the matching keyslots. Empty string to erase' },
    { name: 'old-secret', type: 'string', help: 'Select all keyslots that match this password' },
    { name: 'state', type: 'string', help: 'Select new state of affected keyslots (active/inactive)' },
  ],
  supports: { amend: true },
  openOptions: ['key-secret', 'file'],
  // The key secret is part of what the node is (a json:{...} name shows it).
  strongOptions: ['key-secret'],
  // Unwritten payload sectors decipher to noise, not zeroes.
  zeroInit: false,
  // The payload after QEMU's header layout for the cipher; checked as create checks.
  measure: ({ size, options, secret }) => {
    checkLuksEnums(options);
    checkKeySecret('key-secret', options['key-secret'], secret);
    const p = luksCreateParams(options);
    const bytes = luksPayloadOffset(p.cipherAlg, p.mode) + size;
    return { required: bytes, fullyAllocated: bytes };
  },
};
