// qemu-img measure: how large a new image of the output format would be,
// for a given size or an existing image. Raw is its size; other formats
// answer through BlockDriver.measure (qcow2).
import { findDriver, parseOptionString, parseSize, type MeasureResult } from '@tsemu/block-core';
import { findSecret } from '@tsemu/block-drivers';
import { allocatedExtents } from '../chain-status.js';
import { loadSnapshot } from './convert.js';
import { unknownOption } from '../create-options.js';
import { getopt } from '../getopt.js';
import { closeQuietly, open } from '../image.js';
import { CommandError, HelpRequested, type Context } from '../io.js';
import { prettyJson } from '../json.js';
import { checkNumber, joinOptions, parseImageSize, parseOutputFormat } from '../options.js';
import { bitmapsOf } from '../bitmaps.js';
import type { SubCommand } from './command.js';
import { defineObject } from '../objects.js';

const SECTOR = 512;

async function run(ctx: Context, args: string[]): Promise<number> {
  // qemu-img 7.2's measure alone has no ':' in its short spec: glibc reports a
  // bad option itself, and the command answers it with the help text (exit 0).
  const { options, operands, error } = getopt('measure', args, {
    short: 'hf:O:o:l:U',
    glibcErrors: true,
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
    if (o.key === 'object') {
      defineObject(o.arg!);
      continue;
    }
    if (o.key === 'f') format = o.arg;
    else if (o.key === 'O') outFormat = o.arg!;
    else if (o.key === 'o') optionText = joinOptions(optionText, o.arg!);
    else if (o.key === 'l') snapshot = o.arg;
    else if (o.key === 'output') output = o.arg!;
    else if (o.key === 'size') size = parseImageSize(o.arg!);
    else if (o.key === 'image-opts') imageOpts = true;
    else if (o.key === 'U') forceShare = true;
  }
  if (error !== undefined) {
    ctx.warnLine(error);
    throw new HelpRequested();
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
  const opts = optionText === undefined ? {} : parseOptionString(optionText);
  // Number options are parsed with the option string, as qemu-img's QemuOpts do: a bad one is reported there.
  for (const spec of outDriver.createOptions ?? []) {
    const v = opts[spec.name];
    if (spec.type !== 'number' || v === undefined) continue;
    try {
      checkNumber(spec.name, v);
    } catch (err) {
      ctx.error((err as Error).message);
      throw new CommandError(`Invalid options for file format '${outFormat}'`);
    }
  }
  let allocated: Array<[number, number]> | undefined;
  let inputBitmaps: number | undefined;
  if (size === undefined) {
    const blk = await open(ctx, { filename: operands[0]!, format, readOnly: true, imageOpts, forceShare });
    try {
      if (snapshot !== undefined) await loadSnapshot(blk, snapshot);
      size = await blk.getLength();
      const cs = opts.cluster_size !== undefined ? parseSize(opts.cluster_size) : 65536;
      if (outDriver.measure) allocated = await allocatedExtents(blk, size, cs);
      // qemu-img reports "bitmaps size" only for inputs that can hold persistent bitmaps (qcow2 v3): stored with the output's clusters.
      const bm = bitmapsOf(blk);
      if (bm !== undefined && bm.storable) inputBitmaps = bm.storedSize(cs);
    } finally {
      await closeQuietly(blk);
    }
  }
  let m: MeasureResult;
  if (outFormat === 'raw') {
    // A raw image is its virtual size, rounded up to whole sectors.
    const bytes = Math.ceil(size / SECTOR) * SECTOR;
    m = { required: bytes, fullyAllocated: bytes };
  } else if (outDriver.measure) {
    try {
      m = outDriver.measure({ size, options: opts, allocated, secret: findSecret });
    } catch (err) {
      throw new CommandError(err instanceof Error ? err.message : String(err));
    }
  } else {
    throw new CommandError(`Block driver '${outFormat}' does not support size measurement`);
  }
  const bitmaps = inputBitmaps !== undefined && m.bitmaps !== undefined ? inputBitmaps : undefined;
  if (fmt === 'json') {
    const o: Record<string, number> = {};
    if (bitmaps !== undefined) o.bitmaps = bitmaps;
    o.required = m.required;
    o['fully-allocated'] = m.fullyAllocated;
    let text = prettyJson(o);
    for (const v of Object.values(o)) text = text.replace(`: ${v}`, `: ${intText(v)}`);
    ctx.out(text);
  } else {
    ctx.out(`required size: ${intText(m.required)}\nfully allocated size: ${intText(m.fullyAllocated)}\n`);
    if (bitmaps !== undefined) ctx.out(`bitmaps size: ${bitmaps}\n`);
  }
  return 0;
}

/** All digits of a size past 2^53 (JS would print the shortest decimal that rounds to it, e.g. ...692000). */
function intText(n: number): string {
  return Number.isInteger(n) ? BigInt(n).toString() : String(n);
}

export const measureCommand: SubCommand = {
  name: 'measure',
  syntax:
    'measure [--output=ofmt] [-O output_fmt] [-o options] [--size N | [--object objectdef] [--image-opts] [-f fmt] [-l snapshot_param] filename]',
  run,
};
