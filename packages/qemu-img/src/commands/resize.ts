// qemu-img resize: grow (or with --shrink, shrink) an image to an absolute
// size or by a +/- delta.
import type { Preallocation } from '@tsemu/block-core';
import { getopt, UsageError } from '../getopt.js';
import { asCommandError, closeQuietly, open } from '../image.js';
import { CommandError, HelpRequested, type Context } from '../io.js';
import { parseSizeParam } from '../options.js';
import type { SubCommand } from './command.js';
import { defineObject } from '../objects.js';

const PREALLOCATION: readonly string[] = ['off', 'metadata', 'falloc', 'full'];
const INT64_MAX = (1n << 63n) - 1n;

async function run(ctx: Context, args: string[]): Promise<number> {
  if (args.length < 2) throw new UsageError('Not enough arguments');
  // The size is always the last word, taken before option parsing so that
  // "-1G" is a shrink and not an option.
  const sizeText = args[args.length - 1]!;
  const { options, operands } = getopt('resize', args.slice(0, -1), {
    short: ':f:hq',
    long: [
      { name: 'help', arg: 'none', key: 'h' },
      { name: 'object', arg: 'required', key: 'object' },
      { name: 'image-opts', arg: 'none', key: 'image-opts' },
      { name: 'preallocation', arg: 'required', key: 'preallocation' },
      { name: 'shrink', arg: 'none', key: 'shrink' },
    ],
  });
  let format: string | undefined;
  let quiet = false;
  let shrink = false;
  let imageOpts = false;
  let prealloc: Preallocation = 'off';
  for (const o of options) {
    if (o.key === 'h') throw new HelpRequested();
    if (o.key === 'object') {
      defineObject(o.arg!);
      continue;
    }
    if (o.key === 'f') format = o.arg;
    else if (o.key === 'q') quiet = true;
    else if (o.key === 'shrink') shrink = true;
    else if (o.key === 'image-opts') imageOpts = true;
    else if (o.key === 'preallocation') {
      if (!PREALLOCATION.includes(o.arg!)) throw new CommandError(`Invalid preallocation mode '${o.arg}'`);
      prealloc = o.arg as Preallocation;
    }
  }
  if (operands.length !== 1) throw new UsageError('Expecting image file name and size');

  const sign = sizeText[0] === '+' ? 1n : sizeText[0] === '-' ? -1n : 0n;
  const magnitude = parseSizeParam(sign === 0n ? sizeText : sizeText.slice(1));

  // QEMU's file child unmaps: clusters a shrink frees are punched out of the file.
  const blk = await open(ctx, { filename: operands[0]!, format, readOnly: false, imageOpts, discard: 'unmap', resize: true });
  try {
    const current = BigInt(await blk.getLength());
    let target = sign === 0n ? magnitude : current + sign * magnitude;
    // QEMU keeps sizes in int64: 2^63 and up wrap negative.
    if (target > INT64_MAX) target -= 1n << 64n;
    if (target <= 0n) throw new CommandError('New image size must be positive');
    // qemu-img's own check, before --shrink's (an unchanged size counts too).
    if (prealloc !== 'off' && target <= current) throw new CommandError('Preallocation can only be used for growing images');
    if (target < current && !shrink) {
      ctx.error('Use the --shrink option to perform a shrink operation.');
      ctx.error(
        "warning: Shrinking an image will delete all data beyond the shrunken image's end. " +
          'Before performing such an operation, make sure there is no important data there.',
      );
      return 1;
    }
    try {
      await blk.truncate(Number(target), { exact: false, prealloc, shrink });
    } catch (err) {
      throw asCommandError(err);
    }
  } finally {
    await closeQuietly(blk);
  }
  if (!quiet) ctx.out('Image resized.\n');
  return 0;
}

export const resizeCommand: SubCommand = {
  name: 'resize',
  syntax: 'resize [--object objectdef] [--image-opts] [-f fmt] [--preallocation=prealloc] [-q] [--shrink] filename [+ | -]size',
  run,
};
