// Filter driver `blkdebug`: passes requests to its `image` child and fails
// the Nth read/write/flush/discard/write-zeroes with a chosen errno. Option
// names are tsemu's own (QEMU's blkdebug uses a config file of rules):
//   x-image=<file> | image.<opt>=... the child (or filename "blkdebug::<file>"; as in
//                                    QEMU, a string image=<name> names a node)
//   inject.read=N inject.write=N inject.flush=N inject.discard=N inject.zeroes=N
//                                    fail the Nth operation of that kind (1-based)
//   inject.errno=EIO                 the error (any Errno name; default EIO)
//   inject.once=on|off               off: the Nth and every later one fail (default on)
//   align=N                          request alignment to impose (tests RMW; default 1)
//   log=on                           keep an ordered event log (BlkdebugState.events)
import type { BlockDriver, BlockDriverState, BlockStatus, DriverInfo, OpenContext, Preallocation, WriteFlags, ZeroFlags } from '../driver.js';
import { BlockError, strerror, type Errno } from '../errors.js';
import type { BlockNode } from '../node.js';
import { parseBool, parseUintOption } from '../options.js';

export type BlkdebugOp = 'read' | 'write' | 'flush' | 'discard' | 'zeroes';
const OPS: BlkdebugOp[] = ['read', 'write', 'flush', 'discard', 'zeroes'];

export interface BlkdebugEvent {
  op: BlkdebugOp;
  offset: number;
  length: number;
  fua: boolean;
  /** The errno injected, if this one failed. */
  failed?: Errno;
}

export class BlkdebugState implements BlockDriverState {
  readonly requestAlignment: number;
  readonly supportsFua = true;
  /** Operations seen so far, per kind (including failed ones). */
  readonly counts: Record<BlkdebugOp, number> = { read: 0, write: 0, flush: 0, discard: 0, zeroes: 0 };
  readonly events: BlkdebugEvent[] = [];

  constructor(
    private readonly image: BlockNode,
    private readonly failAt: Partial<Record<BlkdebugOp, number>>,
    private readonly errno: Errno,
    private readonly once: boolean,
    private readonly log: boolean,
    align: number,
  ) {
    this.requestAlignment = align;
  }

  /** Counts the operation and throws if a rule says this one fails. */
  private hit(op: BlkdebugOp, offset: number, length: number, fua: boolean): void {
    const n = ++this.counts[op];
    const at = this.failAt[op];
    const fail = at !== undefined && (this.once ? n === at : n >= at);
    if (this.log) this.events.push({ op, offset, length, fua, failed: fail ? this.errno : undefined });
    if (fail) throw new BlockError(this.errno, strerror(this.errno));
  }

  getLength(): Promise<number> {
    return this.image.getLength();
  }

  preadv(offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    this.hit('read', offset, length, false);
    return this.image.readv(offset, iov);
  }

  pwritev(offset: number, length: number, iov: Uint8Array[], flags: WriteFlags): Promise<void> {
    this.hit('write', offset, length, flags.fua === true);
    return this.image.writev(offset, iov, flags);
  }

  pwriteZeroes(offset: number, length: number, flags: ZeroFlags): Promise<void> {
    this.hit('zeroes', offset, length, flags.fua === true);
    return this.image.writeZeroes(offset, length, flags);
  }

  pdiscard(offset: number, length: number): Promise<void> {
    this.hit('discard', offset, length, false);
    return this.image.discard(offset, length);
  }

  /** The child is flushed after this by the generic layer. */
  async flush(): Promise<void> {
    this.hit('flush', 0, 0, false);
  }

  blockStatus(offset: number, length: number): Promise<BlockStatus> {
    return this.image.blockStatus(offset, length);
  }

  truncate(size: number, exact: boolean, prealloc: Preallocation): Promise<void> {
    return this.image.truncate(size, exact, prealloc);
  }

  /** Not passed down: QEMU answers "unavailable" for a protocol-named driver without its own answer. */
  async allocatedFileSize(): Promise<number | undefined> {
    return undefined;
  }

  /** A filter's get_info is its image's (cluster size, dirty flag), without the format-specific part. */
  info(): DriverInfo {
    const { clusterSize, vmStateOffset, dirty } = this.image.info();
    return { clusterSize, vmStateOffset, dirty };
  }

  async close(): Promise<void> {}
}

function parseErrno(text: string | undefined): Errno {
  if (text === undefined) return 'EIO';
  const name = text.toUpperCase();
  if (strerror(name as Errno) === undefined) throw new BlockError('EINVAL', `Invalid errno '${text}'`);
  return name as Errno;
}

export const blkdebugDriver: BlockDriver = {
  name: 'blkdebug',
  kind: 'filter',
  protocols: ['blkdebug'],
  openOptions: ['x-image', 'filename', 'config', 'align', 'log', 'inject.errno', 'inject.once', ...OPS.map((op) => `inject.${op}`)],
  strongOptions: ['config', 'align', 'inject.'],
  /** QEMU's "blkdebug:<config>:<image>" while nothing but the config file is set. */
  exactFilename(node, strong, childName) {
    const image = childName('image');
    return image !== '' && strong.every((k) => k === 'config') ? `blkdebug:${node.options.config ?? ''}:${image}` : '';
  },
  /** "blkdebug:<config>:<image>" (config ignored), "blkdebug::<image>", or (tsemu) a plain image name. */
  parseFilename(filename: string) {
    if (!filename.startsWith('blkdebug:')) return { 'x-image': filename };
    const rest = filename.slice('blkdebug:'.length);
    const colon = rest.indexOf(':');
    if (colon < 0) throw new BlockError('EINVAL', 'Invalid filename format');
    return { 'x-image': rest.slice(colon + 1) };
  },
  async open(ctx: OpenContext): Promise<BlockDriverState> {
    const o = ctx.options;
    const image = await ctx.openChild('image', o['x-image']);
    const failAt: Partial<Record<BlkdebugOp, number>> = {};
    for (const op of OPS) {
      const v = o[`inject.${op}`];
      if (v !== undefined) failAt[op] = parseUintOption(`inject.${op}`, v, 0);
    }
    const align = parseUintOption('align', o.align, 1);
    if (align < 1 || (align & (align - 1)) !== 0) throw new BlockError('EINVAL', 'Cannot meet constraints with align ' + align);
    return new BlkdebugState(image, failAt, parseErrno(o['inject.errno']), parseBool('inject.once', o['inject.once'], true),
      parseBool('log', o.log, false), align);
  },
};

/** The blkdebug state of a node (or of the first blkdebug node under it), for tests. */
export function blkdebugOf(node: BlockNode): BlkdebugState | undefined {
  for (let n: BlockNode | undefined = node; n; n = n.file ?? n.children.get('image')) {
    if (n.state instanceof BlkdebugState) return n.state;
  }
  return undefined;
}
