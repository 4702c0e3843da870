// qemu-img commit: copies what the top image (and any layer above the base)
// allocates into the base image, then empties the top unless -d / -b.
import { resolve } from 'node:path';
import { openImage, type BlockBackend, type BlockNode } from '@tsemu/block-core';
import { allocatedAbove } from '../chain-status.js';
import { getopt, UsageError } from '../getopt.js';
import { asCommandError, closeQuietly, open } from '../image.js';
import { CommandError, HelpRequested, type Context } from '../io.js';
import { parseCache } from '../options.js';
import { ProgressMeter } from '../progress.js';
import type { SubCommand } from './command.js';

const CHUNK = 2 * 1024 * 1024;

async function run(ctx: Context, args: string[]): Promise<number> {
  const { options, operands } = getopt('commit', args, {
    short: ':f:ht:b:dpqr:',
    long: [
      { name: 'help', arg: 'none', key: 'h' },
      { name: 'object', arg: 'required', key: 'object' },
      { name: 'image-opts', arg: 'none', key: 'image-opts' },
    ],
  });
  let format: string | undefined;
  let cache = 'writeback';
  let baseName: string | undefined;
  let drop = false;
  let progress = false;
  let quiet = false;
  let imageOpts = false;
  for (const o of options) {
    if (o.key === 'h') throw new HelpRequested();
    if (o.key === 'f') format = o.arg;
    else if (o.key === 't') cache = o.arg!;
    else if (o.key === 'b') {
      baseName = o.arg;
      drop = true; // -b implies -d: the layers in between would become invalid
    } else if (o.key === 'd') drop = true;
    else if (o.key === 'p') progress = true;
    else if (o.key === 'q') quiet = true;
    else if (o.key === 'image-opts') imageOpts = true;
  }
  if (quiet) progress = false;
  if (operands.length !== 1) throw new UsageError('Expecting one image file name');
  const filename = operands[0]!;
  const cacheMode = parseCache(cache, false);
  const blk = await open(ctx, { filename, format, readOnly: false, cache: cacheMode, imageOpts, discard: 'unmap' });
  let baseBlk: BlockBackend | undefined;
  try {
    const top = blk.root;
    if (!top.backing) throw new CommandError('Image does not have a backing file');
    let base: BlockNode | undefined = top.backing;
    if (baseName !== undefined) {
      base = findInChain(top, baseName);
      if (!base) throw new CommandError(`Did not find '${baseName}' in the backing chain of '${filename}'`);
    }
    // The chain's copy of the base is read-only: write through a read-write open of the same image.
    try {
      baseBlk = await openImage({ filename: base.filename, format: base.driver.name, readOnly: false, cache: cacheMode });
    } catch (err) {
      throw asCommandError(err);
    }
    const size = await blk.getLength();
    if ((await baseBlk.getLength()) < size) await baseBlk.truncate(size);
    const meter = progress ? new ProgressMeter(ctx.io.stdout) : undefined;
    meter?.set(0);
    const buf = new Uint8Array(CHUNK);
    for (let offset = 0; offset < size;) {
      const st = await allocatedAbove(top, base, offset, Math.min(CHUNK, size - offset));
      if (st.allocated) {
        if (st.zero) await baseBlk.writeZeroes(offset, st.length);
        else {
          const view = buf.subarray(0, st.length);
          await blk.read(offset, view);
          await baseBlk.write(offset, view);
        }
      }
      offset += st.length;
      meter?.set((offset / size) * 100);
    }
    await baseBlk.flush();
    if (!drop) {
      if (!top.state.makeEmpty) throw new CommandError('Image committed, but could not empty the top image: Operation not supported');
      await top.state.makeEmpty();
      await blk.flush();
    }
    meter?.set(100);
    meter?.end();
  } catch (err) {
    throw asCommandError(err);
  } finally {
    await closeQuietly(baseBlk);
    await closeQuietly(blk);
  }
  if (!quiet) ctx.out('Image committed.\n');
  return 0;
}

/** The backing node named `name` (as given, or as a path), below the top. */
function findInChain(top: BlockNode, name: string): BlockNode | undefined {
  for (let node = top.backing; node; node = node.backing) {
    if (node.filename === name || resolve(node.filename) === resolve(name)) return node;
  }
  return undefined;
}

export const commitCommand: SubCommand = {
  name: 'commit',
  syntax: 'commit [--object objectdef] [--image-opts] [-q] [-f fmt] [-t cache] [-b base] [-r rate_limit] [-d] [-p] filename',
  run,
};
