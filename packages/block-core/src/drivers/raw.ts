// Format driver `raw`: the guest sees the file child's bytes, optionally a
// window of them (`offset`, `size`). When the format was only guessed by
// probing, writes that would make sector 0 look like another format are
// refused with EPERM, so a guest cannot turn its disk into, say, a qcow2
// header pointing at host files.
import type { BlockDriver, BlockDriverState, BlockStatus, CreateContext, OpenContext, Preallocation, WriteFlags, ZeroFlags } from '../driver.js';
import { BlockError } from '../errors.js';
import { copyFromIov, iovLength } from '../iov.js';
import type { BlockNode } from '../node.js';
import { parseSizeOption } from '../options.js';
import { probeFormat } from '../registry.js';

const SECTOR = 512;

class RawDriverState implements BlockDriverState {
  readonly requestAlignment = 1;
  /** FUA passes straight down to the file node, which emulates it there. */
  readonly supportsFua = true;

  constructor(
    private readonly node: BlockNode,
    private readonly file: BlockNode,
    private readonly offset: number,
    private readonly size: number | undefined,
  ) {}

  async getLength(): Promise<number> {
    if (this.size !== undefined) return this.size;
    return Math.max(0, (await this.file.getLength()) - this.offset);
  }

  /** Window check: QEMU's raw gives ENOSPC for requests outside offset/size. */
  private check(offset: number, length: number): void {
    if (this.size !== undefined && offset + length > this.size) throw new BlockError('ENOSPC');
  }

  // Plain functions (no async wrapper) on the per-request path; errors reject.
  preadv(offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    if (this.size !== undefined && offset + length > this.size) return Promise.reject(new BlockError('ENOSPC'));
    return this.file.readv(offset + this.offset, iov);
  }

  pwritev(offset: number, length: number, iov: Uint8Array[], flags: WriteFlags): Promise<void> {
    if (this.size !== undefined && offset + length > this.size) return Promise.reject(new BlockError('ENOSPC'));
    if (this.node.probed && offset < SECTOR) return this.pwritevProbed(offset, length, iov, flags);
    return this.file.writev(offset + this.offset, iov, flags);
  }

  private async pwritevProbed(offset: number, length: number, iov: Uint8Array[], flags: WriteFlags): Promise<void> {
    await this.checkProbedWrite(offset, length, iov);
    return this.file.writev(offset + this.offset, iov, flags);
  }

  /** Builds sector 0 as it would be after the write and refuses it if another format would claim it. */
  private async checkProbedWrite(offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    const sector = new Uint8Array(SECTOR);
    if (offset > 0 || length < SECTOR) {
      const fileLen = await this.file.getLength();
      const have = Math.min(SECTOR, Math.max(0, fileLen - this.offset));
      if (have > 0) await this.file.read(this.offset, sector.subarray(0, have));
    }
    const data = new Uint8Array(Math.min(length, SECTOR - offset));
    if (data.byteLength === length) copyFromIov(iov, data, 0);
    else {
      const all = new Uint8Array(iovLength(iov));
      copyFromIov(iov, all, 0);
      data.set(all.subarray(0, data.byteLength));
    }
    sector.set(data, offset);
    const other = probeFormat(sector, this.node.filename, 'raw');
    if (other && other.score > 1) throw new BlockError('EPERM');
  }

  pwriteZeroes(offset: number, length: number, flags: ZeroFlags): Promise<void> {
    this.check(offset, length);
    return this.file.writeZeroes(offset + this.offset, length, flags);
  }

  pdiscard(offset: number, length: number): Promise<void> {
    this.check(offset, length);
    return this.file.discard(offset + this.offset, length);
  }

  blockStatusNow(offset: number, length: number): BlockStatus | undefined {
    const st = this.file.blockStatusNow(offset + this.offset, length);
    return st === undefined ? undefined : { ...st, allocated: true, offset: offset + this.offset, file: this.file };
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    const st = await this.file.blockStatus(offset + this.offset, length);
    // Past the file's end (the image length is rounded up to a sector, or
    // offset= shifts it): those bytes read as zeroes, so say so. A length of 0
    // here made NBD clients fail block status with EIO and qemu-io's map stop.
    if (st.length <= 0) return { length, data: false, zero: true, allocated: true, offset: offset + this.offset, file: this.file };
    // Everything in a raw image is "allocated" in this layer; data/zero come from the file.
    return { ...st, allocated: true, offset: offset + this.offset, file: this.file };
  }

  async truncate(size: number, exact: boolean, prealloc: Preallocation): Promise<void> {
    if (this.size !== undefined) throw new BlockError('ENOTSUP', 'Cannot resize fixed-size raw disks');
    await this.file.truncate(size + this.offset, exact, prealloc);
  }

  allocatedFileSize(): Promise<number | undefined> {
    return this.file.allocatedFileSize();
  }

  async close(): Promise<void> {
    // The file child is closed by the generic layer.
  }
}

export const rawDriver: BlockDriver = {
  name: 'raw',
  kind: 'format',
  openOptions: ['offset', 'size', 'filename', 'file'],
  strongOptions: ['offset', 'size'],
  probe: () => 1,
  async open(ctx: OpenContext): Promise<BlockDriverState> {
    const file = await ctx.openChild('file');
    const offset = parseSizeOption('offset', ctx.options.offset, 0);
    const size = ctx.options.size === undefined ? undefined : parseSizeOption('size', ctx.options.size, 0);
    const fileLen = await file.getLength();
    if (offset > fileLen) {
      throw new BlockError('EINVAL', `Offset (${offset}) cannot be greater than size of the containing file (${fileLen})`);
    }
    if (size !== undefined) {
      if (offset + size > fileLen) {
        throw new BlockError('EINVAL', `The sum of offset (${offset}) and size (${size}) has to be smaller or equal to the  actual size of the containing file (${fileLen})`);
      }
      if (size % SECTOR !== 0) throw new BlockError('EINVAL', 'Specified size is not multiple of 512');
    }
    return new RawDriverState(ctx.node, file, offset, size);
  },
  // preallocation is the file driver's option (QEMU's raw lists only size; -o help with a filename adds the protocol's).
  createOptions: [{ name: 'size', type: 'size', help: 'Virtual disk size' }],
  async create(ctx: CreateContext): Promise<void> {
    await ctx.createFile(ctx.filename, ctx.size, ctx.options);
  },
};
