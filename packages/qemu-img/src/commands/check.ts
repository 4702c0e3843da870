// qemu-img check: consistency check of an image. Raw has nothing to check,
// which qemu-img reports with its own exit status 63.
import { getopt, UsageError } from '../getopt.js';
import { closeQuietly, open } from '../image.js';
import { CommandError, HelpRequested, type Context } from '../io.js';
import { parseCache, parseOutputFormat } from '../options.js';
import type { SubCommand } from './command.js';

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
  let repair: string | undefined;
  let imageOpts = false;
  let forceShare = false;
  for (const o of options) {
    if (o.key === 'h') throw new HelpRequested();
    if (o.key === 'f') format = o.arg;
    else if (o.key === 'output') output = o.arg!;
    else if (o.key === 'T') cache = o.arg!;
    else if (o.key === 'image-opts') imageOpts = true;
    else if (o.key === 'U') forceShare = true;
    else if (o.key === 'r') {
      if (o.arg !== 'leaks' && o.arg !== 'all') {
        throw new UsageError(`Unknown option value for -r (expecting 'leaks' or 'all'): ${o.arg}`);
      }
      repair = o.arg;
    }
  }
  if (operands.length !== 1) throw new UsageError('Expecting one image file name');
  parseOutputFormat(output);
  const cacheMode = parseCache(cache, true);
  // Repairing needs a writable image; a plain check only reads.
  const blk = await open(ctx, { filename: operands[0]!, format, readOnly: repair === undefined, cache: cacheMode, imageOpts, forceShare });
  // block-core has no check entry point yet, so no format can be checked from
  // here, even one that declares supports.check; raw never can.
  await closeQuietly(blk);
  throw new CommandError('This image format does not support checks', EXIT_CHECK_UNSUPPORTED);
}

export const checkCommand: SubCommand = {
  name: 'check',
  syntax: 'check [--object objectdef] [--image-opts] [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-T src_cache] [-U] filename',
  run,
};
