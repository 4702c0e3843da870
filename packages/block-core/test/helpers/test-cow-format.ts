// A tiny copy-on-write format for tests of probing, backing chains and the
// generic backing-read path. Layout of the file child:
//   [0, 16)    magic "TCOW" + u32 virtual size (LE) + 8 reserved
//   [16, 512)  backing file name, NUL-terminated ('' = none)
//   [512, 4096) allocation map: one byte per 4 KiB block (1 = allocated here)
//   [4096 + i*4096, ...) data of block i
import type { BlockDriver, BlockDriverState, BlockNode, BlockStatus, CreateContext, OpenContext, WriteFlags } from '@tsemu/block-core';
import { BlockError, copyToIov, registerDriver, sliceIov } from '@tsemu/block-core';

const BLOCK = 4096;
const MAGIC = [0x54, 0x43, 0x4f, 0x57];

export function testCowHeader(size: number, backing = ''): Uint8Array {
  const h = new Uint8Array(BLOCK);
  h.set(MAGIC);
  new DataView(h.buffer).setUint32(4, size, true);
  h.set(new TextEncoder().encode(backing), 16);
  return h;
}

class TestCowState implements BlockDriverState {
  readonly requestAlignment = BLOCK;
  readonly supportsFua = true;
  constructor(private readonly file: BlockNode, private readonly size: number, private readonly map: Uint8Array) {}

  async getLength(): Promise<number> { return this.size; }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    const first = Math.floor(offset / BLOCK);
    const last = Math.ceil(Math.min(offset + length, this.size) / BLOCK);
    const alloc = this.map[first] === 1;
    let i = first + 1;
    while (i < last && (this.map[i] === 1) === alloc) i++;
    const n = Math.min(i * BLOCK, this.size) - offset;
    return { length: Math.min(n, length), data: alloc, zero: !alloc, allocated: alloc, offset: alloc ? BLOCK + first * BLOCK + (offset % BLOCK) : undefined };
  }

  async preadv(offset: number, length: number, iov: Uint8Array[]): Promise<void> {
    for (let pos = 0; pos < length; pos += BLOCK) {
      const block = (offset + pos) / BLOCK;
      const part = sliceIov(iov, pos, BLOCK);
      if (this.map[block] === 1) await this.file.readv(BLOCK + block * BLOCK, part);
      else copyToIov(new Uint8Array(BLOCK), 0, part);
    }
  }

  async pwritev(offset: number, length: number, iov: Uint8Array[], flags: WriteFlags): Promise<void> {
    await this.file.writev(BLOCK + offset, iov, flags);
    for (let pos = 0; pos < length; pos += BLOCK) this.map[(offset + pos) / BLOCK] = 1;
    await this.file.write(512, this.map, flags);
  }

  async close(): Promise<void> {}
}

export const testCowFormat: BlockDriver = {
  name: 'test-cow',
  kind: 'format',
  openOptions: ['file', 'backing', 'filename'],
  probe: (header) => (header.length >= 4 && MAGIC.every((b, i) => header[i] === b) ? 100 : 0),
  async open(ctx: OpenContext): Promise<BlockDriverState> {
    const file = await ctx.openChild('file');
    const header = new Uint8Array(BLOCK);
    await file.read(0, header);
    if (!MAGIC.every((b, i) => header[i] === b)) throw new BlockError('EINVAL', 'Image not in test-cow format');
    const size = new DataView(header.buffer).getUint32(4, true);
    const nul = header.indexOf(0, 16);
    const backingName = new TextDecoder().decode(header.subarray(16, nul));
    if (backingName) {
      ctx.node.backingFile = backingName;
      if (!ctx.noBacking) await ctx.openChild('backing', backingName);
    }
    return new TestCowState(file, size, header.slice(512, BLOCK));
  },
  createOptions: [
    { name: 'size', type: 'size', help: 'Virtual disk size' },
    { name: 'backing_file', type: 'string', help: 'File name of a base image' },
  ],
  async create(ctx: CreateContext): Promise<void> {
    await ctx.createFile(ctx.filename, 0, {});
    const file = await ctx.openFile(ctx.filename);
    try {
      await file.write(0, testCowHeader(ctx.size, ctx.options.backing_file ?? ''));
    } finally {
      await file.close();
    }
  },
};

registerDriver(testCowFormat);
