// qemu-img measure: how large a new image of the output format would be,
// for a given size or an existing image. Only raw output can be measured so
// far; other drivers have no measurement hook in block-core.
import { findDriver, parseOptionString } from '@tsemu/block-core';
import { unknownOption } from '../create-options.js';
import { getopt } from '../getopt.js';
import { closeQuietly, open } from '../image.js';
import { CommandError, HelpRequested, type Context } from '../io.js';
import { prettyJson } from '../json.js';
import { joinOptions, parseImageSize, parseOutputFormat } from '../options.js';
import type { SubCommand } from './command.js';

const SECTOR = 512;

async function run(ctx: Context, args: string[]): Promise<number> {
  const { options, operands } = getopt('measure', args, {
    short: ':hf:O:o:l:U',
    long: [
      { name: 'help', arg: 'none', key: 'h' },
      { name: 'object', arg: 'required', key: 'object' },
      { name: 'image-opts', arg: 'none', key: 'image-opts' },
      { name: 'output', arg: 'required', key: 'output' },
      { name: 'size', arg: 'required', key: 'size' },
      { name: 'force-share', arg: 'none', key: 'U' },
    ],
  });
  let format: string | undefined;
  let outFormat = 'raw';
  let optionText: string | undefined;
  let snapshot: string | undefined;
  let output = 'human';
  let size: number | undefined;
  let imageOpts = false;
  let forceShare = false;
  for (const o of options) {
    if (o.key === 'h') throw new HelpRequested();
    if (o.key === 'f') format = o.arg;
    else if (o.key === 'O') outFormat = o.arg!;
    else if (o.key === 'o') optionText = joinOptions(optionText, o.arg!);
    else if (o.key === 'l') snapshot = o.arg;
    else if (o.key === 'output') output = o.arg!;
    else if (o.key === 'size') size = parseImageSize(o.arg!);
    else if (o.key === 'image-opts') imageOpts = true;
    else if (o.key === 'U') forceShare = true;
  }
  const fmt = parseOutputFormat(output);
  if (operands.length > 1) throw new CommandError('At most one filename argument is allowed.');
  if (size !== undefined && operands.length === 1) throw new CommandError('--size N cannot be used together with a filename.');
  if (size === undefined && operands.length === 0) throw new CommandError('Either --size N or one filename must be specified.');

  const outDriver = findDriver(outFormat);
  if (!outDriver) throw new CommandError(`Unknown file format '${outFormat}'`);
  if (optionText !== undefined) {
    const bad = unknownOption(outDriver, parseOptionString(optionText));
    if (bad !== undefined) {
      ctx.error(`Invalid parameter '${bad}'`);
      throw new CommandError(`Invalid options for file format '${outFormat}'`);
    }
  }
  if (size === undefined) {
    const blk = await open(ctx, { filename: operands[0]!, format, readOnly: true, imageOpts, forceShare });
    try {
      if (snapshot !== undefined) {
        throw new CommandError(
          `Failed to load snapshot: Block format '${blk.info().format}' used by device '' does not support temporarily loading internal snapshots`,
        );
      }
      size = await blk.getLength();
    } finally {
      await closeQuietly(blk);
    }
  }
  if (outFormat !== 'raw') throw new CommandError(`Block driver '${outFormat}' does not support size measurement`);

  // A raw image is its virtual size, rounded up to whole sectors.
  const bytes = Math.ceil(size / SECTOR) * SECTOR;
  if (fmt === 'json') ctx.out(prettyJson({ required: bytes, 'fully-allocated': bytes }));
  else ctx.out(`required size: ${bytes}\nfully allocated size: ${bytes}\n`);
  return 0;
}

export const measureCommand: SubCommand = {
  name: 'measure',
  syntax:
    'measure [--output=ofmt] [-O output_fmt] [-o options] [--size N | [--object objectdef] [--image-opts] [-f fmt] [-l snapshot_param] filename]',
  run,
};
