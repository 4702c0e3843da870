// A test-only protocol driver over an in-memory disk: enforces its declared
// alignment (so any unaligned request that slips past the generic layer
// fails loudly), records every operation in order, and can yield to the
// event loop inside requests so concurrent requests really interleave.
import type { BlockDriver, BlockDriverState, OpenContext, WriteFlags, ZeroFlags } from '@tsemu/block-core';
import { BlockError, copyFromIov, copyToIov, registerDriver } from '@tsemu/block-core';

export interface MemoryDisk {
  data: Uint8Array;
  /** 'read off len', 'write off len fua', 'zeroes off len unmap', 'discard off len', 'flush' */
  log: string[];
  /** Event-loop turns each request waits in the middle (between reading its arguments and touching data). */
  yields: number;
  /** Deterministic per-request jitter source when set: returns extra yields. */
  jitter?: () => number;
}

const disks = new Map<string, MemoryDisk>();

export function createMemoryDisk(name: string, size: number): MemoryDisk {
  const disk: MemoryDisk = { data: new Uint8Array(size), log: [], yields: 0 };
  disks.set(name, disk);
  return disk;
}

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

class MemoryState implements BlockDriverState {
  constructor(readonly disk: MemoryDisk, readonly requestAlignment: number, readonly supportsFua: boolean, readonly serialiseWrites: boolean) {}

  private check(offset: number, length: number): void {
    const a = this.requestAlignment;
    if (offset % a !== 0 || length % a !== 0) throw new Error(`unaligned request ${offset}+${length} (alignment ${a})`);
    if (offset + length > this.disk.data.byteLength) throw new BlockError('ENOSPC');
  }

  private async pause(): Promise<void> {
    const n = this.disk.yields + (this.disk.jitter?.() ?? 0);
    for (let i = 0; i < n; i++) await turn();
  }

  async getLength(): Promise<number> {
    return this.disk.data.byteLength;
  }

  async preadv(offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    this.check(offset, length);
    this.disk.log.push(`read ${offset} ${length}`);
    await this.pause();
    copyToIov(this.disk.data, offset, iov);
  }

  async pwritev(offset: number, length: number, iov: Uint8Array[], flags: WriteFlags): Promise<void> {
    this.check(offset, length);
    // Copy first, land later: like a real device, the data is captured at submission.
    const copy = new Uint8Array(length);
    copyFromIov(iov, copy, 0);
    await this.pause();
    this.disk.data.set(copy, offset);
    this.disk.log.push(`write ${offset} ${length}${flags.fua ? ' fua' : ''}`);
  }

  async pwriteZeroes(offset: number, length: number, flags: ZeroFlags): Promise<void> {
    this.check(offset, length);
    await this.pause();
    this.disk.data.fill(0, offset, offset + length);
    this.disk.log.push(`zeroes ${offset} ${length}${flags.mayUnmap ? ' unmap' : ''}${flags.fua ? ' fua' : ''}`);
  }

  async pdiscard(offset: number, length: number): Promise<void> {
    this.check(offset, length);
    await this.pause();
    this.disk.data.fill(0, offset, offset + length);
    this.disk.log.push(`discard ${offset} ${length}`);
  }

  async flush(): Promise<void> {
    await this.pause();
    this.disk.log.push('flush');
  }

  async close(): Promise<void> {}
}

/** Driver 'test-mem': filename "test-mem:<disk name>", options align=N, fua=on, serialise=on. */
export const memoryDriver: BlockDriver = {
  name: 'test-mem',
  kind: 'protocol',
  protocols: ['test-mem'],
  openOptions: ['filename', 'align', 'fua', 'serialise'],
  parseFilename: (filename) => ({ filename: filename.slice('test-mem:'.length) }),
  async open(ctx: OpenContext): Promise<BlockDriverState> {
    const disk = disks.get(ctx.options.filename);
    if (!disk) throw new BlockError('ENOENT', `Could not open '${ctx.options.filename}': No such file or directory`);
    return new MemoryState(disk, Number(ctx.options.align ?? '1'), ctx.options.fua === 'on', ctx.options.serialise === 'on');
  },
};

registerDriver(memoryDriver);
