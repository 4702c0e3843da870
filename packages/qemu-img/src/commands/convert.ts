// qemu-img convert: copy one or more images (concatenated) into a new or
// existing (-n) target, leaving zero runs of at least -S bytes unwritten.
import { createImage, findDriver, parseOptionString } from '@tsemu/block-core';
import { findSecret } from '@tsemu/block-drivers';
import type { BlockBackend } from '@tsemu/block-core';
import { ConvertJob } from '../convert-job.js';
import { optionHelpText, unknownOption } from '../create-options.js';
import { getopt } from '../getopt.js';
import { asCommandError, closeQuietly, open } from '../image.js';
import { CommandError, HelpRequested, type Context } from '../io.js';
import { joinOptions, parseCache, parseSparseSize, wantsOptionHelp } from '../options.js';
import { ProgressMeter } from '../progress.js';
import type { SubCommand } from './command.js';
import { checkBitmapSource, copyBitmaps } from '../convert-bitmaps.js';
import { defineObject } from '../objects.js';

interface ConvertArgs {
  srcFormat?: string;
  outFormat: string;
  /** -O given: --target-image-opts takes the format from the options unless -O says one (and then QEMU refuses the mix). */
  outFormatGiven: boolean;
  optionText?: string;
  backing?: string;
  backingFormat?: string;
  targetCache: string;
  srcCache: string;
  minSparse: number;
  /** -S given (even -S 0): qemu-img then refuses -C. */
  explicitSparse?: boolean;
  /** -C: copy offloading. */
  copyRange?: boolean;
  parallel: number;
  outOfOrder: boolean;
  noCreate: boolean;
  targetIsZero: boolean;
  compress: boolean;
  progress: boolean;
  quiet: boolean;
  /** --salvage: unreadable source sectors become zeroes, with a warning each. */
  salvage?: boolean;
  imageOpts: boolean;
  targetImageOpts: boolean;
  forceShare: boolean;
  snapshot?: string;
  bitmaps: boolean;
  skipBrokenBitmaps?: boolean;
  files: string[];
}

function parseArgs(args: string[]): ConvertArgs {
  const { options, operands } = getopt('convert', args, {
    short: ':hf:O:B:F:Cco:l:S:pt:T:qnm:WUr:',
    long: [
      { name: 'help', arg: 'none', key: 'h' },
      { name: 'object', arg: 'required', key: 'object' },
      { name: 'image-opts', arg: 'none', key: 'image-opts' },
      { name: 'force-share', arg: 'none', key: 'U' },
      { name: 'target-image-opts', arg: 'none', key: 'target-image-opts' },
      { name: 'salvage', arg: 'none', key: 'salvage' },
      { name: 'target-is-zero', arg: 'none', key: 'target-is-zero' },
      { name: 'bitmaps', arg: 'none', key: 'bitmaps' },
      { name: 'skip-broken-bitmaps', arg: 'none', key: 'skip-broken-bitmaps' },
    ],
  });
  const a: ConvertArgs = {
    outFormat: 'raw', outFormatGiven: false, targetCache: 'unsafe', srcCache: 'writeback', minSparse: 4096, parallel: 8,
    outOfOrder: false, noCreate: false, targetIsZero: false, compress: false, progress: false, quiet: false,
    imageOpts: false, targetImageOpts: false, forceShare: false, bitmaps: false, files: operands,
  };
  for (const o of options) {
    const v = o.arg!;
    switch (o.key) {
      case 'h': throw new HelpRequested();
      case 'f': a.srcFormat = v; break;
      case 'O': a.outFormat = v; a.outFormatGiven = true; break;
      case 'B': a.backing = v; break;
      case 'F': a.backingFormat = v; break;
      case 'c': a.compress = true; break;
      case 'o': a.optionText = joinOptions(a.optionText, v); break;
      case 'l': a.snapshot = v; break;
      case 'S': a.minSparse = parseSparseSize(v); a.explicitSparse = true; break;
      case 'C': a.copyRange = true; break;
      case 'p': a.progress = true; break;
      case 't': a.targetCache = v; break;
      case 'T': a.srcCache = v; break;
      case 'q': a.quiet = true; break;
      case 'n': a.noCreate = true; break;
      case 'W': a.outOfOrder = true; break;
      case 'U': a.forceShare = true; break;
      case 'image-opts': a.imageOpts = true; break;
      case 'target-image-opts': a.targetImageOpts = true; break;
      case 'target-is-zero': a.targetIsZero = true; break;
      case 'bitmaps': a.bitmaps = true; break;
      case 'skip-broken-bitmaps': a.skipBrokenBitmaps = true; break;
      case 'm': {
        const n = /^[0-9]+$/.test(v) ? Number(v) : NaN;
        if (!(n >= 1 && n <= 16)) {
          throw new CommandError('Invalid number of coroutines. Allowed number of coroutines is between 1 and 16');
        }
        a.parallel = n;
        break;
      }
      case 'object': defineObject(v); break;
      case 'salvage': a.salvage = true; break;
      default: break; // -r: accepted, no rate limit
    }
  }
  return a;
}

async function run(ctx: Context, args: string[]): Promise<number> {
  const a = parseArgs(args);
  // qemu-img's first checks after its option loop, in its order.
  if (a.skipBrokenBitmaps && !a.bitmaps) throw new CommandError('Use of --skip-broken-bitmaps requires --bitmaps');
  // -C (copy offloading) itself changes nothing here: the copy is the same either way.
  if (a.copyRange && a.compress) throw new CommandError('Cannot enable copy offloading when -c is used');
  if (a.copyRange && a.explicitSparse) throw new CommandError('Cannot enable copy offloading when -S is used');
  const outDriver = findDriver(a.outFormat);
  if (wantsOptionHelp(a.optionText)) {
    if (!outDriver) throw new CommandError(`Unknown file format '${a.outFormat}'`);
    ctx.out(optionHelpText(outDriver, a.files.length >= 2 ? a.files[a.files.length - 1] : undefined));
    return 0;
  }
  if (a.files.length < 2) throw new CommandError('Must specify image file name');
  const srcCache = parseCache(a.srcCache, true);
  if (a.targetIsZero && !a.noCreate) throw new CommandError('--target-is-zero requires use of -n flag');
  if (a.targetImageOpts && !a.noCreate) throw new CommandError('--target-image-opts requires use of -n flag');
  if (a.noCreate && a.optionText !== undefined) throw new CommandError('-o has no effect when skipping image creation');
  const targetName = a.files[a.files.length - 1]!;
  const sourceNames = a.files.slice(0, -1);

  // As qemu-img: the 0 line goes out before anything is opened, and the line ends however the command ends.
  const progress = a.progress && !a.quiet ? new ProgressMeter(ctx.io.stdout) : undefined;
  progress?.set(0);
  const sources: { blk: BlockBackend; length: number }[] = [];
  let target: BlockBackend | undefined;
  try {
    for (const filename of sourceNames) {
      const blk = await open(ctx, { filename, format: a.srcFormat, readOnly: true, cache: srcCache, imageOpts: a.imageOpts, forceShare: a.forceShare });
      sources.push({ blk, length: await blk.getLength() });
    }
    if (a.snapshot !== undefined) await loadSnapshot(sources[0]!.blk, a.snapshot);
    for (const src of sources) src.length = await src.blk.getLength();
    if (a.bitmaps) checkBitmapSource(sources, a.skipBrokenBitmaps === true);
    const total = sources.reduce((sum, s) => sum + s.length, 0);
    const targetFormat = a.targetImageOpts && !a.outFormatGiven ? undefined : a.outFormat;
    if (!outDriver && targetFormat !== undefined) throw new CommandError(`Unknown file format '${a.outFormat}'`);
    if (outDriver && targetFormat !== undefined && a.compress && !outDriver.supports?.compressedWrites) {
      throw new CommandError('Compression not supported for this file format');
    }

    let opts: Record<string, string> | undefined;
    if (!a.noCreate && outDriver) {
      opts = a.optionText === undefined ? {} : parseOptionString(a.optionText);
      const bad = unknownOption(outDriver, opts);
      if (bad !== undefined) throw new CommandError(`Invalid parameter '${bad}'`);
      if (a.backing !== undefined) {
        if (!outDriver.createOptions?.some((o) => o.name === 'backing_file')) {
          throw new CommandError(`Backing file not supported for file format '${a.outFormat}'`);
        }
        opts.backing_file = a.backing;
        if (a.backingFormat !== undefined) opts.backing_fmt = a.backingFormat;
      }
    }
    // -B or -o backing_file: only the source's top layer is copied (qemu-img's target_has_backing), checked in its order.
    const hasBacking = a.backing !== undefined || opts?.backing_file !== undefined;
    if (hasBacking && a.targetIsZero) {
      // qemu-img 7.2 reports this one but leaves its status at success: it prints 100 and exits 0.
      ctx.error('Cannot use --target-is-zero when the destination image has a backing file');
      progress?.set(100);
      return 0;
    }
    if (hasBacking && sources.length > 1) {
      throw new CommandError('Having a backing file for the target makes no sense when concatenating multiple input images');
    }
    // qemu-img 7.2 no longer probes a new target's backing format.
    if (opts?.backing_file !== undefined && opts.backing_fmt === undefined) {
      throw new CommandError('Use of backing file requires explicit backing format');
    }
    if (opts !== undefined) {
      delete opts.size;
      try {
        await createImage({ filename: targetName, format: a.outFormat, size: total, options: opts, secret: findSecret });
      } catch (err) {
        throw new CommandError(`${targetName}: error while converting ${a.outFormat}: ${(err as Error).message}`);
      }
    }
    // qemu-img checks the target's cache mode only now: a bad -t leaves the new image behind.
    const targetCache = parseCache(a.targetCache, false);
    // Zeroed ranges may be deallocated, as qemu-img does, so -n targets end up sparse too.
    // As qemu-img: the new target opens with the creation options' key secrets (key-secret, encrypt.key-secret).
    const keySecrets = Object.entries(opts ?? {}).filter(([k]) => k.endsWith('key-secret'));
    target = await open(ctx, {
      filename: targetName, format: targetFormat, readOnly: false, cache: targetCache, imageOpts: a.targetImageOpts, discard: 'unmap',
      ...(keySecrets.length > 0 && { options: Object.fromEntries(keySecrets) }),
    });
    // With --target-image-opts the format is known only now, from the opened node (QEMU checks it there too).
    if (a.compress && targetFormat === undefined && !target.root.driver.supports?.compressedWrites) {
      throw new CommandError('Compression not supported for this file format');
    }
    if (a.bitmaps && !target.root.driver.supports?.bitmaps) throw new CommandError(`Format driver '${target.root.driver.name}' does not support bitmaps`);
    if (a.noCreate && (await target.getLength()) < total) throw new CommandError('output file is smaller than input file');

    const job = new ConvertJob({
      sources,
      target,
      minSparse: a.minSparse,
      // A target with a backing file reads the backing's data, not zeroes; a new luks volume reads as noise.
      targetIsZero: !hasBacking && ((!a.noCreate && target.root.driver.zeroInit !== false) || a.targetIsZero),
      topLayerOnly: hasBacking,
      compressClusterSize: a.compress ? target.info().clusterSize ?? 65536 : undefined,
      parallel: a.parallel,
      outOfOrder: a.outOfOrder,
      progress,
      onError: (line) => ctx.error(line),
      ...(a.salvage && { salvage: a.quiet ? () => {} : (line: string) => ctx.warnReport(`${line}\n`) }),
    });
    try {
      await job.run();
    } catch (err) {
      throw asCommandError(err);
    }
    if (a.bitmaps) await copyBitmaps(ctx, sources[0]!.blk, target);
  } finally {
    progress?.end();
    await closeQuietly(target);
    for (const s of sources) await closeQuietly(s.blk);
  }
  return 0;
}

/** -l: "snapshot.id=ID,snapshot.name=NAME" or a bare id-or-name (tried as id first, then as name). */
export async function loadSnapshot(blk: BlockBackend, param: string): Promise<void> {
  const state = blk.root.state;
  if (!state.loadSnapshotReadOnly) {
    throw new CommandError(
      `Failed to load snapshot: Block format '${blk.info().format}' used by device '' does not support temporarily loading internal snapshots`,
    );
  }
  const fail = (err: unknown): never => {
    throw new CommandError(`Failed to load snapshot: ${err instanceof Error ? err.message : String(err)}`);
  };
  if (param.startsWith('snapshot.')) {
    let opts: Record<string, string> = {};
    try {
      opts = parseOptionString(param);
    } catch (err) {
      fail(err);
    }
    await state.loadSnapshotReadOnly(opts['snapshot.id'], opts['snapshot.name']).catch(fail);
    return;
  }
  try {
    await state.loadSnapshotReadOnly(param, undefined);
  } catch {
    await state.loadSnapshotReadOnly(undefined, param).catch(fail);
  }
}

export const convertCommand: SubCommand = {
  name: 'convert',
  syntax:
    'convert [--object objectdef] [--image-opts] [--target-image-opts] [--target-is-zero] [--bitmaps] [-U] [-C] [-c] [-p] [-q] [-n] [-f fmt] [-t cache] [-T src_cache] [-O output_fmt] [-B backing_file [-F backing_fmt]] [-o options] [-l snapshot_param] [-S sparse_size] [-r rate_limit] [-m num_coroutines] [-W] [--salvage] filename [filename2 [...]] output_filename',
  run,
};
