// qemu-img check: consistency check of an image through the driver's
// checkImage hook (qcow2). Raw has nothing to check, which qemu-img reports
// with its own exit status 63. Exit codes: 0 clean, 1 check failed, 2
// corruptions, 3 leaks only.
import { BlockError, cFixed, strerror, type CheckResult, type Errno } from '@tsemu/block-core';
import { getopt, UsageError } from '../getopt.js';
import { asCommandError, closeQuietly, open } from '../image.js';
import { CommandError, HelpRequested, type Context } from '../io.js';
import { prettyJson } from '../json.js';
import { parseCache, parseOutputFormat } from '../options.js';
import type { SubCommand } from './command.js';
import { defineObject } from '../objects.js';

/** qemu-img's exit status when the driver cannot check images. */
export const EXIT_CHECK_UNSUPPORTED = 63;

async function run(ctx: Context, args: string[]): Promise<number> {
  const { options, operands } = getopt('check', args, {
    short: ':hf:r:T:qU',
    long: [
      { name: 'help', arg: 'none', key: 'h' },
      { name: 'format', arg: 'required', key: 'f' },
      { name: 'repair', arg: 'required', key: 'r' },
      { name: 'output', arg: 'required', key: 'output' },
      { name: 'object', arg: 'required', key: 'object' },
      { name: 'image-opts', arg: 'none', key: 'image-opts' },
      { name: 'force-share', arg: 'none', key: 'U' },
    ],
  });
  let format: string | undefined;
  let output = 'human';
  let cache = 'writeback';
  let repair: 'leaks' | 'all' | undefined;
  let imageOpts = false;
  let forceShare = false;
  let quiet = false;
  for (const o of options) {
    if (o.key === 'h') throw new HelpRequested();
    if (o.key === 'object') {
      defineObject(o.arg!);
      continue;
    }
    if (o.key === 'f') format = o.arg;
    else if (o.key === 'output') output = o.arg!;
    else if (o.key === 'T') cache = o.arg!;
    else if (o.key === 'image-opts') imageOpts = true;
    else if (o.key === 'U') forceShare = true;
    else if (o.key === 'q') quiet = true;
    else if (o.key === 'r') {
      if (o.arg !== 'leaks' && o.arg !== 'all') {
        throw new UsageError(`Unknown option value for -r (expecting 'leaks' or 'all'): ${o.arg}`);
      }
      repair = o.arg;
    }
  }
  if (operands.length !== 1) throw new UsageError('Expecting one image file name');
  const fmt = parseOutputFormat(output);
  const cacheMode = parseCache(cache, true);
  // Repairing needs a writable image; a plain check only reads.
  const blk = await open(ctx, { filename: operands[0]!, format, readOnly: repair === undefined, cache: cacheMode, imageOpts, forceShare, forCheck: true });
  const filename = operands[0]!;
  try {
    const state = blk.root.state;
    if (!state.checkImage) throw new CommandError('This image format does not support checks', EXIT_CHECK_UNSUPPORTED);
    const report = (line: string): void => ctx.warnLine(line);
    let result: CheckResult;
    try {
      result = await state.checkImage(repair ?? 'none', report);
      if (result.corruptionsFixed > 0 || result.leaksFixed > 0) {
        if (fmt === 'human' && !quiet) {
          ctx.out('The following inconsistencies were found and repaired:\n\n' +
            `    ${result.leaksFixed} leaked clusters\n    ${result.corruptionsFixed} corruptions\n\n` +
            'Double checking the fixed image now...\n');
        }
        // As qemu-img: a second, read-only pass (its lines printed too) is what gets reported, with the fixed counts.
        const { leaksFixed, corruptionsFixed } = result;
        result = { ...(await state.checkImage('none', report)), leaksFixed, corruptionsFixed };
      }
    } catch (err) {
      if (err instanceof CommandError) throw err;
      const text = err instanceof BlockError ? strerror(err.code as Errno) : err instanceof Error ? err.message : String(err);
      throw asCommandError(new Error(`Check failed: ${text}`));
    }
    if (!quiet) ctx.out(fmt === 'json' ? checkJson(result, filename, blk.root.driver.name) : checkHuman(result));
    if (result.checkErrors > 0) throw new CommandError('Check failed');
    await blk.flush();
    return result.corruptions > 0 ? 2 : result.leaks > 0 ? 3 : 0;
  } finally {
    await closeQuietly(blk);
  }
}

/** The human report, as qemu-img's dump_human_image_check. */
export function checkHuman(r: CheckResult): string {
  let out = '';
  if (r.corruptions === 0 && r.leaks === 0 && r.checkErrors === 0) {
    out += 'No errors were found on the image.\n';
  } else {
    if (r.corruptions) out += `\n${r.corruptions} errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt it.\n`;
    if (r.leaks) out += `\n${r.leaks} leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.\n`;
    if (r.checkErrors) out += `\n${r.checkErrors} internal errors have occurred during the check.\n`;
  }
  if (r.totalClusters !== 0 && r.allocatedClusters !== 0) {
    const pct = (n: number, d: number): string => cFixed((n * 100) / d, 2);
    out += `${r.allocatedClusters}/${r.totalClusters} = ${pct(r.allocatedClusters, r.totalClusters)}% allocated, ` +
      `${pct(r.fragmentedClusters, r.allocatedClusters)}% fragmented, ${pct(r.compressedClusters, r.allocatedClusters)}% compressed clusters\n`;
  }
  if (r.imageEndOffset) out += `Image end offset: ${r.imageEndOffset}\n`;
  return out;
}

/** ImageCheck as JSON: zero counters are left out, keys in the order qemu-img 7.2 prints. */
export function checkJson(r: CheckResult, filename: string, format: string): string {
  const o: Record<string, unknown> = {};
  const opt = (key: string, v: number): void => {
    if (v !== 0) o[key] = v;
  };
  opt('image-end-offset', r.imageEndOffset);
  opt('compressed-clusters', r.compressedClusters);
  opt('total-clusters', r.totalClusters);
  opt('corruptions', r.corruptions);
  opt('corruptions-fixed', r.corruptionsFixed);
  o['check-errors'] = r.checkErrors;
  opt('leaks', r.leaks);
  opt('leaks-fixed', r.leaksFixed);
  opt('allocated-clusters', r.allocatedClusters);
  o.filename = filename;
  o.format = format;
  opt('fragmented-clusters', r.fragmentedClusters);
  return prettyJson(o);
}

export const checkCommand: SubCommand = {
  name: 'check',
  syntax: 'check [--object objectdef] [--image-opts] [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-T src_cache] [-U] filename',
  run,
};
