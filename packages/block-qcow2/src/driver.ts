// qcow2Driver: the BlockDriver table block-core registers.
import { BlockError, parseBool, parseSize, type BlockDriver, type BlockNode, type OpenContext } from '@tsemu/block-core';
import { QCOW2_CREATE_OPTIONS } from './create-options.js';
import { createQcow2 } from './create.js';
import { measureQcow2 } from './measure.js';
import { Qcow2DriverState } from './driver-state.js';
import { Qcow2Header } from './header.js';
import { Qcow2HostFile } from './host-file.js';
import { openQcow2Image, readHeader } from './open.js';

/** Runtime options QEMU's qcow2 accepts; the cache ones are honoured, the rest accepted. */
const OPEN_OPTIONS = [
  'l2-cache-size', 'l2-cache-entry-size', 'refcount-cache-size', 'cache-size', 'cache-clean-interval',
  'lazy-refcounts', 'pass-discard-request', 'pass-discard-snapshot', 'pass-discard-other',
  'overlap-check', 'discard-no-unref', 'file',
];

async function openQcow2(ctx: OpenContext): Promise<Qcow2DriverState> {
  const fileNode = await ctx.openChild('file');
  // The backing name and format come from the header: read it before opening the chain.
  const file = await Qcow2HostFile.open(fileNode);
  const header = await readHeader(file);
  ctx.node.backingFile = header.backingFile;
  ctx.node.backingFormat = header.backingFormat;
  let backing: BlockNode | undefined;
  const wantsBacking = header.backingFile !== undefined || ctx.options.backing !== undefined ||
    Object.keys(ctx.options).some((k) => k.startsWith('backing.'));
  if (wantsBacking && !ctx.noBacking) {
    backing = await ctx.openChild('backing', header.backingFile, header.backingFormat);
  }
  let l2CacheBytes: number | undefined;
  const l2Opt = ctx.options['l2-cache-size'] ?? ctx.options['cache-size'];
  if (l2Opt !== undefined) {
    try {
      l2CacheBytes = parseSize(l2Opt);
    } catch {
      throw new BlockError('EINVAL', `Parameter 'l2-cache-size' expects a non-negative number below 2^64`);
    }
  }
  const lazyOpt = ctx.options['lazy-refcounts'];
  const lazyRefcounts = lazyOpt === undefined ? undefined : parseBool('lazy-refcounts', lazyOpt, false);
  // QEMU's discard_passthrough defaults: requests follow the node's discard=unmap, snapshots pass, others do not.
  const passDiscard = {
    request: parseBool('pass-discard-request', ctx.options['pass-discard-request'], ctx.node.unmap),
    snapshot: parseBool('pass-discard-snapshot', ctx.options['pass-discard-snapshot'], true),
    other: parseBool('pass-discard-other', ctx.options['pass-discard-other'], false),
  };
  const image = await openQcow2Image(fileNode, backing, {
    readOnly: ctx.readOnly, l2CacheBytes, lazyRefcounts, forCheck: ctx.forCheck === true, opened: { file, header }, warn: ctx.warnReport, passDiscard,
  });
  return new Qcow2DriverState(image, fileNode);
}

export const qcow2Driver: BlockDriver = {
  name: 'qcow2',
  kind: 'format',
  probe: (header: Uint8Array) => Qcow2Header.probe(header),
  open: openQcow2,
  createOptions: QCOW2_CREATE_OPTIONS,
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
