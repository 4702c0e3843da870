// The 'sheepdog' protocol driver: filenames, open, create.
import { BlockError, registerDriver as coreRegisterDriver, type BlockDriver, type BlockOptions, type CreateContext, type OpenContext } from '@tsemu/block-core';
import { SD_MAX_VDI_SIZE, SD_DATA_OBJ_SIZE } from './wire/constants.js';
import { parseSheepdogFilename, locationFromOptions } from './client/location.js';
import { SheepdogImage } from './client/image.js';
import { findVdi, newVdi, readObject } from './client/vdi-ops.js';
import { INODE_SNAP_CTIME, SD_INODE_HEADER_SIZE, readU64 } from './wire/inode.js';
import { inodeOidHi } from './wire/oid.js';
import { SD_FLAG_CMD_CACHE } from './wire/constants.js';

async function openSheepdog(ctx: OpenContext): Promise<SheepdogImage> {
  const location = locationFromOptions(ctx.options);
  const timeout = ctx.options['x-reconnect-timeout'];
  if (timeout !== undefined && !/^\d+$/.test(timeout)) throw new BlockError('EINVAL', `Invalid x-reconnect-timeout: ${timeout}`);
  return SheepdogImage.open(location, {
    readOnly: ctx.readOnly, cache: ctx.cache, reconnectTimeoutMs: timeout === undefined ? undefined : Number(timeout),
  });
}

/**
 * qemu-img create: NEW_VDI (size <= 4 TiB), optionally cloned from a
 * sheepdog snapshot given as backing_file, optionally preallocated by
 * reading and rewriting every object through the normal write path.
 */
async function createSheepdog(ctx: CreateContext): Promise<void> {
  const location = locationFromOptions(parseSheepdogFilename(ctx.filename));
  if (ctx.size > SD_MAX_VDI_SIZE) throw new BlockError('EINVAL', 'too big image size');
  const prealloc = ctx.options['preallocation'] ?? 'off';
  if (prealloc !== 'off' && prealloc !== 'full') throw new BlockError('EINVAL', `Invalid preallocation mode: '${prealloc}'`);
  let baseVid = 0;
  const backing = ctx.options['backing_file'];
  if (backing) baseVid = await snapshotVid(backing);
  await newVdi(location.address, location.vdi, ctx.size, baseVid, false);
  if (prealloc === 'full') await preallocate(location.vdi, ctx);
}

/** The vid of a backing file, which must be a sheepdog snapshot. */
async function snapshotVid(backing: string): Promise<number> {
  if (!backing.startsWith('sheepdog')) throw new BlockError('EINVAL', 'backing_file must be a sheepdog image');
  const loc = locationFromOptions(parseSheepdogFilename(backing));
  const vid = await findVdi(loc.address, loc.vdi, loc.snapId, loc.tag, false);
  const head = Buffer.alloc(SD_INODE_HEADER_SIZE);
  await readObject(loc.address, inodeOidHi(vid), 0, 0, 0, head, SD_FLAG_CMD_CACHE);
  if (readU64(head, INODE_SNAP_CTIME) === 0) throw new BlockError('EINVAL', 'cannot clone from a non snapshot vdi');
  return vid;
}

async function preallocate(vdi: string, ctx: CreateContext): Promise<void> {
  const loc = locationFromOptions(parseSheepdogFilename(ctx.filename));
  const image = await SheepdogImage.open({ ...loc, vdi }, { readOnly: false, cache: { writeback: true, direct: false, noFlush: false } });
  try {
    const buf = new Uint8Array(SD_DATA_OBJ_SIZE);
    for (let offset = 0; offset < ctx.size; offset += SD_DATA_OBJ_SIZE) {
      const n = Math.min(SD_DATA_OBJ_SIZE, ctx.size - offset);
      const piece = buf.subarray(0, n);
      await image.preadv(offset, n, [piece]);
      await image.pwritev(offset, n, [piece], {});
    }
    await image.flush();
  } finally {
    await image.close();
  }
}

export const sheepdogDriver: BlockDriver = {
  name: 'sheepdog',
  kind: 'protocol',
  protocols: ['sheepdog', 'sheepdog+tcp', 'sheepdog+unix'],
  parseFilename(filename: string): BlockOptions {
    return parseSheepdogFilename(filename);
  },
  open: openSheepdog,
  createOptions: [
    { name: 'size', type: 'size', help: 'Virtual disk size' },
    { name: 'backing_file', type: 'string', help: 'File name of a base image' },
    { name: 'preallocation', type: 'string', help: 'Preallocation mode (allowed values: off, full)', default: 'off' },
  ],
  create: createSheepdog,
  openOptions: ['filename', 'vdi', 'snap-id', 'tag', 'server.type', 'server.host', 'server.port', 'server.path', 'x-reconnect-timeout'],
  supports: { snapshots: true },
};

let registered = false;

/** Registers the driver with block-core (idempotent). Nothing is registered on import. */
export function registerSheepdog(): void {
  if (registered) return;
  coreRegisterDriver(sheepdogDriver);
  registered = true;
}
