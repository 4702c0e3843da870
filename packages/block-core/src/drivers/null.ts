// Protocol drivers `null-co` / `null-aio`: a device of `size` bytes (default
// 1 GiB) that drops writes. Reads leave the buffer untouched unless
// `read-zeroes=on` (QEMU 7.2's default is off; tools that want zeroes ask).
import type { BlockDriver, BlockDriverState, BlockStatus, OpenContext } from '../driver.js';
import { parseBool, parseSizeOption } from '../options.js';

class NullDriverState implements BlockDriverState {
  readonly requestAlignment = 1;
  readonly supportsFua = true;

  constructor(private readonly size: number, private readonly readZeroes: boolean) {}

  async getLength(): Promise<number> {
    return this.size;
  }

  async preadv(_offset: number, _length: number, iov: Uint8Array[]): Promise<void> {
    if (this.readZeroes) for (const buf of iov) buf.fill(0);
  }

  async pwritev(): Promise<void> {}

  async pwriteZeroes(): Promise<void> {}

  async flush(): Promise<void> {}

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    const n = Math.max(0, Math.min(length, this.size - offset));
    return { length: n, data: !this.readZeroes, zero: this.readZeroes, allocated: true, offset };
  }

  /** QEMU's null driver reports no allocated bytes ("disk size: 0 B"). */
  async allocatedFileSize(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {}
}

function makeNullDriver(name: string): BlockDriver {
  return {
    name,
    kind: 'protocol',
    protocols: [name],
    noInfo: true,
    openOptions: ['filename', 'size', 'read-zeroes', 'latency-ns'],
    // "null-co://" carries no options: everything comes from size=/read-zeroes=.
    parseFilename: () => ({}),
    strongOptions: ['size', 'read-zeroes'],
    exactFilename: (_node, strong) => (strong.length === 0 ? `${name}://` : ''),
    async open(ctx: OpenContext): Promise<BlockDriverState> {
      const size = parseSizeOption('size', ctx.options.size, 1 << 30);
      return new NullDriverState(size, parseBool('read-zeroes', ctx.options['read-zeroes'], false));
    },
  };
}

export const nullCoDriver = makeNullDriver('null-co');
export const nullAioDriver = makeNullDriver('null-aio');
