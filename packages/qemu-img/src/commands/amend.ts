// qemu-img amend -o ...: changes format options of an existing image through
// the driver's amendImage hook (qcow2: compat, lazy_refcounts, size).
import { findDriver, parseOptionString, parseSize, type BlockDriver } from '@tsemu/block-core';
import { optionLines } from '../create-options.js';
import { getopt, UsageError } from '../getopt.js';
import { asCommandError, closeQuietly, open } from '../image.js';
import { CommandError, HelpRequested, type Context } from '../io.js';
import { joinOptions, parseCache, qemuOptsProblem, sizeParamHint, wantsOptionHelp } from '../options.js';
import { ProgressMeter } from '../progress.js';
import type { SubCommand } from './command.js';
import { defineObject } from '../objects.js';


async function run(ctx: Context, args: string[]): Promise<number> {
  const { options, operands } = getopt('amend', args, {
    short: ':ho:f:t:pq',
    long: [
      { name: 'help', arg: 'none', key: 'h' },
      { name: 'object', arg: 'required', key: 'object' },
      { name: 'image-opts', arg: 'none', key: 'image-opts' },
      { name: 'force', arg: 'none', key: 'force' },
    ],
  });
  let format: string | undefined;
  let optionText: string | undefined;
  let cache = 'writeback';
  let progress = false;
  let quiet = false;
  let imageOpts = false;
  let force = false;
  for (const o of options) {
    if (o.key === 'h') throw new HelpRequested();
    if (o.key === 'object') {
      defineObject(o.arg!);
      continue;
    }
    if (o.key === 'o') optionText = joinOptions(optionText, o.arg!);
    else if (o.key === 'f') format = o.arg;
    else if (o.key === 't') cache = o.arg!;
    else if (o.key === 'p') progress = true;
    else if (o.key === 'q') quiet = true;
    else if (o.key === 'image-opts') imageOpts = true;
    else if (o.key === 'force') force = true;
  }
  if (optionText === undefined) throw new UsageError('Must specify options (-o)');
  if (quiet) progress = false;
  if (wantsOptionHelp(optionText) && format !== undefined && operands.length === 0) {
    const driver = findDriver(format);
    if (!driver) throw new CommandError(`Unknown file format '${format}'`);
    if (!driver.amendOptions) throw new CommandError(`Format driver '${format}' does not support option amendment`);
    ctx.out(amendHelp(driver));
    return 0;
  }
  // A plain error here in qemu-img 7.2 (no "Try 'qemu-img --help'" line).
  if (operands.length !== 1) throw new CommandError('Expecting one image file name');
  const cacheMode = parseCache(cache, false);
  // qemu-img sets up -p before opening the image and ends the line on every way out.
  const meter = progress ? new ProgressMeter(ctx.io.stdout) : undefined;
  try {
    await amend(ctx, { filename: operands[0]!, format, optionText, cacheMode, imageOpts, force }, meter);
  } finally {
    meter?.end();
  }
  return 0;
}

interface AmendParams {
  filename: string;
  format: string | undefined;
  optionText: string;
  cacheMode: ReturnType<typeof parseCache>;
  imageOpts: boolean;
  force: boolean;
}

async function amend(ctx: Context, p: AmendParams, meter: ProgressMeter | undefined): Promise<void> {
  const blk = await open(ctx, { filename: p.filename, format: p.format, readOnly: false, cache: p.cacheMode, imageOpts: p.imageOpts });
  try {
    const state = blk.root.state;
    if (!state.amendImage) throw new CommandError(`Format driver '${blk.root.driver.name}' does not support option amendment`);
    if (wantsOptionHelp(p.optionText)) {
      ctx.out(amendHelp(blk.root.driver));
      return;
    }
    let opts: Record<string, string>;
    try {
      opts = parseOptionString(p.optionText);
    } catch (err) {
      throw asCommandError(err);
    }
    const createOptions = blk.root.driver.createOptions ?? [];
    const amendOptions = blk.root.driver.amendOptions ?? [];
    // QemuOpts refuses a name or value outside the amend list before any progress is shown; qemu-img then
    // parses the text again with the create options added, and if that works, says the option is create-only.
    const problem = qemuOptsProblem(amendOptions, opts);
    if (problem !== undefined) {
      const createOnly = qemuOptsProblem([...amendOptions, ...createOptions], opts) === undefined;
      throw new CommandError(createOnly ? `${problem}\nThis option is only supported for image creation` : problem);
    }
    // Size-typed options reach the driver in bytes ("2M" -> "2097152").
    for (const spec of amendOptions) {
      const v = opts[spec.name];
      if (spec.type !== 'size' || v === undefined) continue;
      try {
        opts[spec.name] = String(parseSize(v));
      } catch {
        throw new CommandError(sizeParamHint(spec.name));
      }
    }
    meter?.set(0);
    try {
      // qemu-img's amend_status_cb: 100.f * done / total, in float.
      const f = Math.fround;
      await state.amendImage(opts, p.force, meter && ((done, total) => meter.set(f(f(100 * f(done)) / f(total)))));
    } catch (err) {
      meter?.set(100);
      throw asCommandError(err);
    }
    meter?.set(100);
    await blk.flush();
  } finally {
    await closeQuietly(blk);
  }
}


/** What `amend -o help` prints for a format. */
function amendHelp(driver: BlockDriver): string {
  return `Amend options for '${driver.name}':\n${optionLines(driver.amendOptions ?? [])}`;
}


export const amendCommand: SubCommand = {
  name: 'amend',
  syntax: 'amend [--object objectdef] [--image-opts] [-p] [-q] [-f fmt] [-t cache] [--force] -o options filename',
  run,
};
