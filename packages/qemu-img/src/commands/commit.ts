// qemu-img commit: copies what the top image (and any layer above the base)
// allocates into the base image, then empties the top unless -d / -b.
import { resolve } from 'node:path';
import { openImage, type BlockBackend, type BlockNode } from '@tsemu/block-core';
import { allocatedAbove, chainStatus } from '../chain-status.js';
import { getopt, UsageError } from '../getopt.js';
import { asCommandError, closeQuietly, open } from '../image.js';
import { CommandError, HelpRequested, type Context } from '../io.js';
import { parseCache } from '../options.js';
import { ProgressMeter } from '../progress.js';
import type { SubCommand } from './command.js';
import { defineObject } from '../objects.js';

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
    if (o.key === 'object') {
      defineObject(o.arg!);
      continue;
    }
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
    // The chain's copy of the base is read-only: write through a read-write open of the same image
    // (the chain's copy must then stop denying writes, or the two opens' image locks refuse each other).
    try {
      base.allowWriters();
      baseBlk = await openImage({ filename: base.filename, format: base.driver.name, readOnly: false, cache: cacheMode, discard: 'unmap' });
    } catch (err) {
      throw asCommandError(err);
    }
    const size = await blk.getLength();
    if ((await baseBlk.getLength()) < size) await baseBlk.truncate(size);
    const meter = progress ? new ProgressMeter(ctx.io.stdout) : undefined;
    meter?.set(0);
    await commitJob(blk, base, baseBlk, size, meter);
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

/**
 * Copies what the layers above `base` allocate into it, in the pieces
 * qemu-img's commit job (a mirror) uses, reporting progress after each:
 * runs of dirty granules (the base's cluster size, at least 4 KiB) at most
 * 16 MiB long, cut where the chain's data / zero status changes, data
 * pieces at most 1 MiB. qemu-img runs these pieces concurrently and prints
 * whenever its event loop wakes up, so its own output varies from run to
 * run; this prints the job's first poll (still 0%) and then one line per
 * piece in order, a sequence qemu-img can print.
 */
async function commitJob(
  blk: BlockBackend, base: BlockNode, baseBlk: BlockBackend, size: number, meter: ProgressMeter | undefined,
): Promise<void> {
  const top = blk.root;
  const granule = Math.max(4096, baseBlk.info().clusterSize ?? 65536);
  // The dirty bitmap: everything allocated above the base, widened to granules.
  const dirty: Array<[number, number]> = [];
  for (let offset = 0; offset < size;) {
    const st = await allocatedAbove(top, base, offset, size - offset);
    if (st.allocated) {
      const start = Math.floor(offset / granule) * granule;
      const end = Math.min(size, Math.ceil((offset + st.length) / granule) * granule);
      const last = dirty[dirty.length - 1];
      if (last && last[1] >= start) last[1] = Math.max(last[1], end);
      else dirty.push([start, end]);
    }
    offset += st.length;
  }
  const pieces: number[] = [];
  for (const [start, end] of dirty) {
    for (let run = start; run < end; run += MIRROR_BUFFER) {
      const runEnd = Math.min(end, run + MIRROR_BUFFER);
      for (let offset = run; offset < runEnd;) {
        const st = await chainStatus(blk, offset, runEnd - offset);
        let n = st.data ? Math.min(st.length, MIRROR_MAX_IO) : st.length;
        n -= n % granule;
        if (n < granule) n = granule;
        n = Math.min(n, runEnd - offset);
        pieces.push(offset, n);
        offset += n;
      }
    }
  }
  let total = 0;
  for (let i = 1; i < pieces.length; i += 2) total += pieces[i]!;
  const f = Math.fround;
  meter?.set(0); // the job's first poll
  const buf = new Uint8Array(CHUNK);
  let done = 0;
  for (let i = 0; i < pieces.length; i += 2) {
    const pieceEnd = pieces[i]! + pieces[i + 1]!;
    for (let offset = pieces[i]!; offset < pieceEnd;) {
      const st = await allocatedAbove(top, base, offset, Math.min(CHUNK, pieceEnd - offset));
      if (st.allocated) {
        // QEMU's commit job zeroes with MAY_UNMAP: the base lets such clusters go (qcow2: plain zero clusters).
        if (st.zero) await baseBlk.writeZeroes(offset, st.length, { mayUnmap: true });
        else {
          const view = buf.subarray(0, st.length);
          await blk.read(offset, view);
          await baseBlk.write(offset, view);
        }
      }
      offset += st.length;
    }
    done += pieces[i + 1]!;
    // qemu-img: (float)current / total * 100.f
    meter?.set(f(f(f(done) / f(total)) * 100));
  }
}

/** The mirror job's buffer (a run of dirty granules handled in one go) and largest data request. */
const MIRROR_BUFFER = 16 * 1024 * 1024;
const MIRROR_MAX_IO = 1024 * 1024;

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
