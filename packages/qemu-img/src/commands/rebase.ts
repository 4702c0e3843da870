// qemu-img rebase: points an image at a new backing file. Safe mode first
// copies into the image every range whose content would change (old chain vs
// new backing); -u only rewrites the header; -b '' flattens the image.
import { resolve } from 'node:path';
import { openImage, type BlockBackend, type BlockNode } from '@tsemu/block-core';
import { allocatedAbove } from '../chain-status.js';
import { getopt, UsageError } from '../getopt.js';
import { asCommandError, closeQuietly, open } from '../image.js';
import { CommandError, HelpRequested, type Context } from '../io.js';
import { parseCache } from '../options.js';
import { ProgressMeter } from '../progress.js';
import type { SubCommand } from './command.js';
import { defineObject } from '../objects.js';

const CHUNK = 2 * 1024 * 1024;
const SECTOR = 512;

async function run(ctx: Context, args: string[]): Promise<number> {
  const { options, operands } = getopt('rebase', args, {
    short: ':hf:F:b:upt:T:qU',
    long: [
      { name: 'help', arg: 'none', key: 'h' },
      { name: 'object', arg: 'required', key: 'object' },
      { name: 'image-opts', arg: 'none', key: 'image-opts' },
      { name: 'force-share', arg: 'none', key: 'U' },
    ],
  });
  let format: string | undefined;
  let backing: string | undefined;
  let backingFormat: string | undefined;
  let unsafe = false;
  let progress = false;
  let quiet = false;
  let cache = 'writeback';
  let srcCache = 'writeback';
  let imageOpts = false;
  for (const o of options) {
    if (o.key === 'h') throw new HelpRequested();
    if (o.key === 'object') {
      defineObject(o.arg!);
      continue;
    }
    if (o.key === 'f') format = o.arg;
    else if (o.key === 'F') backingFormat = o.arg;
    else if (o.key === 'b') backing = o.arg;
    else if (o.key === 'u') unsafe = true;
    else if (o.key === 'p') progress = true;
    else if (o.key === 'q') quiet = true;
    else if (o.key === 't') cache = o.arg!;
    else if (o.key === 'T') srcCache = o.arg!;
    else if (o.key === 'image-opts') imageOpts = true;
  }
  if (quiet) progress = false;
  if (operands.length !== 1) throw new UsageError('Expecting one image file name');
  if (!unsafe && backing === undefined) throw new UsageError('Must specify backing file (-b) or use unsafe mode (-u)');
  const filename = operands[0]!;
  const cacheMode = parseCache(cache, false);
  parseCache(srcCache, true);
  const meter = progress ? new ProgressMeter(ctx.io.stdout, 2) : undefined;
  meter?.set(0);
  const flatten = backing === '';
  try {
    await rebase(ctx, { filename, format, backing, backingFormat, unsafe, flatten, cacheMode, imageOpts }, meter);
    meter?.set(100);
  } finally {
    // qemu-img ends the line on every way out, errors included.
    meter?.end();
  }
  return 0;
}

interface RebaseParams {
  filename: string;
  format: string | undefined;
  backing: string | undefined;
  backingFormat: string | undefined;
  unsafe: boolean;
  flatten: boolean;
  cacheMode: ReturnType<typeof parseCache>;
  imageOpts: boolean;
}

async function rebase(ctx: Context, p: RebaseParams, meter: ProgressMeter | undefined): Promise<void> {
  const { filename, backing, backingFormat, unsafe, flatten } = p;
  // -u never needs the old backing file (it may be gone: that is often why -u is used).
  const blk = await open(ctx, { filename, format: p.format, readOnly: false, cache: p.cacheMode, imageOpts: p.imageOpts, noBacking: unsafe });
  let newBacking: BlockBackend | undefined;
  try {
    const state = blk.root.state;
    const changeTo = (): never => {
      throw new CommandError(`Could not change the backing file to '${backing ?? ''}': backing format must be specified`);
    };
    // qemu-img opens the new backing file first; the checks that would only fail
    // at the change itself come before any data is copied (qemu-img copies, then fails).
    let prefix: BlockNode | undefined;
    if (!unsafe && !flatten) {
      const path = relativeTo(filename, backing!);
      prefix = findInChain(blk.root, path);
      try {
        newBacking = await openImage({ filename: path, format: backingFormat, readOnly: true });
      } catch (err) {
        throw new CommandError(`Could not open new backing file '${backing}': ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (backing !== undefined && !flatten && backingFormat === undefined) changeTo();
    if (!state.changeBackingFile) {
      throw new CommandError(`Could not change the backing file to '${backing ?? ''}': Operation not supported`);
    }
    if (!unsafe) await copyDifferences(blk, newBacking, prefix, meter);
    try {
      await state.changeBackingFile(flatten ? undefined : backing, flatten ? undefined : backingFormat);
    } catch (err) {
      throw new CommandError(`Could not change the backing file to '${backing ?? ''}': ${err instanceof Error ? err.message : String(err)}`);
    }
    await blk.flush();
  } catch (err) {
    throw asCommandError(err);
  } finally {
    await closeQuietly(newBacking);
    await closeQuietly(blk);
  }
}

/** The node of the current backing chain that is the new backing file (a rebase onto a lower layer). */
function findInChain(top: BlockNode, path: string): BlockNode | undefined {
  for (let node = top.backing; node; node = node.backing) {
    if (resolve(node.filename) === resolve(path)) return node;
  }
  return undefined;
}

/**
 * Writes into the image's own layer every unallocated sector whose old
 * (chain) and new (backing) contents differ. Walks the image as qemu-img
 * does, in steps of at most 2 MiB cut at allocation boundaries and at the
 * ends of the two backing files; each step it had to compare adds
 * 100 / (size / 2 MiB) to the progress. A new backing file found lower in
 * the current chain only needs the layers above it compared.
 */
async function copyDifferences(
  blk: BlockBackend, next: BlockBackend | undefined, prefix: BlockNode | undefined, meter: ProgressMeter | undefined,
): Promise<void> {
  const size = await blk.getLength();
  const oldBacking = blk.root.backing;
  const oldSize = oldBacking ? await oldBacking.getLength() : 0;
  const nextSize = next ? await next.getLength() : 0;
  const step = size === 0 ? 0 : Math.fround(100 / Math.floor(size / Math.min(size, CHUNK)));
  const oldBuf = new Uint8Array(CHUNK);
  const newBuf = new Uint8Array(CHUNK);
  let n = 0;
  for (let offset = 0; offset < size; offset += n) {
    const st = await blk.isAllocated(offset, Math.min(CHUNK, size - offset));
    n = Math.max(1, st.length);
    if (st.allocated) continue;
    if (prefix && oldBacking) {
      const above = await allocatedAbove(oldBacking, prefix, offset, n);
      n = above.length;
      if (!above.allocated) continue;
    }
    const oldIsZero = offset >= oldSize;
    if (!oldIsZero) n = Math.min(n, oldSize - offset);
    if (next && offset < nextSize) n = Math.min(n, nextSize - offset);
    const o = oldBuf.subarray(0, n);
    const nw = newBuf.subarray(0, n);
    if (oldIsZero) o.fill(0);
    else await blk.read(offset, o);
    if (next && offset < nextSize) await next.read(offset, nw);
    else nw.fill(0);
    await writeDifferingRuns(blk, offset, o, nw, oldIsZero);
    meter?.add(step);
  }
}

async function writeDifferingRuns(blk: BlockBackend, base: number, o: Uint8Array, n: Uint8Array, zeroes: boolean): Promise<void> {
  let runStart = -1;
  for (let pos = 0; pos <= o.length; pos += SECTOR) {
    const end = Math.min(pos + SECTOR, o.length);
    const differs = pos < o.length && !sameBytes(o, n, pos, end);
    if (differs && runStart < 0) runStart = pos;
    if (!differs && runStart >= 0) {
      // Past the end of the old backing file the old content is zeroes: written as such, as qemu-img does.
      if (zeroes) await blk.writeZeroes(base + runStart, pos - runStart);
      else await blk.write(base + runStart, o.subarray(runStart, pos));
      runStart = -1;
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A relative backing name is relative to the image's directory. */
function relativeTo(image: string, name: string): string {
  const slash = image.lastIndexOf('/');
  return name.startsWith('/') || /^[a-z+]+:/.test(name) || slash < 0 ? name : image.slice(0, slash + 1) + name;
}

export const rebaseCommand: SubCommand = {
  name: 'rebase',
  syntax: 'rebase [--object objectdef] [--image-opts] [-U] [-q] [-f fmt] [-t cache] [-T src_cache] [-p] [-u] -b backing_file [-F backing_fmt] filename',
  run,
};
