// qcow2Driver: the BlockDriver table block-core registers.
import { BlockError, type BlockDriver, type BlockNode, type OpenContext } from '@tsemu/block-core';
import { QCOW2_AMEND_OPTIONS, QCOW2_CREATE_OPTIONS } from './create-options.js';
import { createQcow2 } from './create.js';
import { measureQcow2 } from './measure.js';
import { Qcow2DriverState } from './driver-state.js';
import { Qcow2Header } from './header.js';
import { Qcow2HostFile } from './host-file.js';
import { openQcow2Image, readHeader } from './open.js';
import { parseRuntimeOptions } from './runtime-options.js';

/** Runtime options QEMU's qcow2 accepts; the cache ones are honoured, the rest accepted. */
const OPEN_OPTIONS = [
  'l2-cache-size', 'l2-cache-entry-size', 'refcount-cache-size', 'cache-size', 'cache-clean-interval',
  'lazy-refcounts', 'pass-discard-request', 'pass-discard-snapshot', 'pass-discard-other',
  'overlap-check', 'overlap-check.template', 'overlap-check.main-header', 'overlap-check.active-l1', 'overlap-check.active-l2',
  'overlap-check.refcount-table', 'overlap-check.refcount-block', 'overlap-check.snapshot-table', 'overlap-check.inactive-l1',
  'overlap-check.inactive-l2', 'overlap-check.bitmap-directory', 'encrypt.format', 'encrypt.key-secret', 'data-file',
  'file',
];

async function openQcow2(ctx: OpenContext): Promise<Qcow2DriverState> {
  const fileNode = await ctx.openChild('file');
  // The backing name and format come from the header: read it before opening the chain.
  const file = await Qcow2HostFile.open(fileNode);
  const header = await readHeader(file);
  ctx.node.backingFile = header.backingFile;
  ctx.node.backingFormat = header.backingFormat;
  const { l2CacheBytes, lazyRefcounts, passDiscard } = parseRuntimeOptions(ctx.options, header, ctx.node.unmap);
  // QEMU sets the decryption up while it reads the header extensions, and asks for the key first
  // (not for info, which reads no data and shows the encryption header).
  if ((header.cryptMethod === 1 || header.cryptMethod === 2) && ctx.options['encrypt.key-secret'] === undefined && !ctx.noIo) {
    throw new BlockError('EINVAL', "Parameter 'encrypt.key-secret' is required for cipher");
  }
  let backing: BlockNode | undefined;
  const wantsBacking = header.backingFile !== undefined || ctx.options.backing !== undefined ||
    Object.keys(ctx.options).some((k) => k.startsWith('backing.'));
  if (wantsBacking && !ctx.noBacking) {
    backing = await ctx.openChild('backing', header.backingFile, header.backingFormat);
  }
  const image = await openQcow2Image(fileNode, backing, {
    readOnly: ctx.readOnly, l2CacheBytes, lazyRefcounts, forCheck: ctx.forCheck === true, opened: { file, header }, warn: ctx.warnReport, passDiscard,
    noIo: ctx.noIo === true, keySecret: ctx.options['encrypt.key-secret'], secret: ctx.secret,
  });
  return new Qcow2DriverState(image, fileNode);
}

export const qcow2Driver: BlockDriver = {
  name: 'qcow2',
  kind: 'format',
  probe: (header: Uint8Array) => Qcow2Header.probe(header),
  open: openQcow2,
  createOptions: QCOW2_CREATE_OPTIONS,
  amendOptions: QCOW2_AMEND_OPTIONS,
  create: createQcow2,
  openOptions: OPEN_OPTIONS,
  supports: { check: true, snapshots: true, compressedWrites: true, amend: true, bitmaps: true, backing: true },
  /**
   * qemu-img measure -O qcow2; "bitmaps size" (always 0: bitmaps are not
   * copied) only for an input image and a v3 output, which can store them.
   */
  measure: ({ size, options, allocated, secret }) => {
    const { required, fullyAllocated, version } = measureQcow2(size, options, allocated, secret);
    return allocated === undefined || version < 3 ? { required, fullyAllocated } : { required, fullyAllocated, bitmaps: 0 };
  },
};
