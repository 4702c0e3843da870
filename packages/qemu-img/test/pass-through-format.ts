// A test-only format over its `file` child: every request passes straight
// through unless a hook wraps it. convert's tests register variants of it
// (reads or writes that wait, fail or are recorded; an invented block status).
import { registerDriver, type BlockDriverState, type BlockNode, type BlockStatus, type WriteFlags } from '@tsemu/block-core';

export interface PassThroughHooks {
  /** Wraps a read; `pass()` reads from the file. */
  read?(offset: number, length: number, pass: () => Promise<void>): Promise<void>;
  /** Wraps a write; `pass()` writes to the file. */
  write?(offset: number, length: number, flags: WriteFlags, pass: () => Promise<void>): Promise<void>;
  /** The format's block status (absent: everything is data, block-core's default). */
  blockStatus?(offset: number, length: number): Promise<BlockStatus>;
}

export function registerPassThrough(name: string, hooks: PassThroughHooks): void {
  registerDriver({
    name,
    kind: 'format',
    async open(ctx) {
      const file: BlockNode = await ctx.openChild('file');
      const state: BlockDriverState = {
        requestAlignment: 1,
        getLength: () => file.getLength(),
        preadv: (offset, length, iov) => (hooks.read ? hooks.read(offset, length, () => file.readv(offset, iov)) : file.readv(offset, iov)),
        pwritev: (offset, length, iov, flags) =>
          (hooks.write ? hooks.write(offset, length, flags, () => file.writev(offset, iov, flags)) : file.writev(offset, iov, flags)),
        blockStatus: hooks.blockStatus,
        close: async () => {},
      };
      return state;
    },
  });
}
