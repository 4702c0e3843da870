// qemu-img amend -o ...: changes format options of an existing image through
// the driver's amendImage hook (qcow2: compat, lazy_refcounts, size).
import { findDriver, parseCNumber, parseOptionString, parseSize } from '@tsemu/block-core';
import { getopt, UsageError } from '../getopt.js';
import { asCommandError, closeQuietly, open } from '../image.js';
import { CommandError, HelpRequested, type Context } from '../io.js';
import { joinOptions, parseCache, wantsOptionHelp } from '../options.js';
import { ProgressMeter } from '../progress.js';
import type { SubCommand } from './command.js';
import { defineObject } from '../objects.js';

/** qcow2's amend options as qemu-img 7.2 lists them for `-o help`. */
const QCOW2_AMEND_HELP = `Amend options for 'qcow2':
  backing_file=<str>     - File name of a base image
  backing_fmt=<str>      - Image format of the base image
  compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])
  data_file=<str>        - File name of an external data file
  data_file_raw=<bool (on/off)> - The external data file must stay valid as a raw image
  encrypt.iter-time=<num> - Time to spend in PBKDF in milliseconds
  encrypt.keyslot=<num>  - Select a single keyslot to modify explicitly
  encrypt.new-secret=<str> - New secret to set in the matching keyslots. Empty string to erase
  encrypt.old-secret=<str> - Select all keyslots that match this password
  encrypt.state=<str>    - Select new state of affected keyslots (active/inactive)
  lazy_refcounts=<bool (on/off)> - Postpone refcount updates
  refcount_bits=<num>    - Width of a reference count entry in bits
  size=<size>            - Virtual disk size
`;

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
    if (driver.name !== 'qcow2') throw new CommandError(`Format driver '${format}' does not support option amendment`);
    ctx.out(QCOW2_AMEND_HELP);
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
      ctx.out(QCOW2_AMEND_HELP);
      return;
    }
    let opts: Record<string, string>;
    try {
      opts = parseOptionString(p.optionText);
    } catch (err) {
      throw asCommandError(err);
    }
    const createOptions = blk.root.driver.createOptions ?? [];
    // Options outside the amend list are refused before any progress is shown.
    for (const key of Object.keys(opts)) {
      if (AMENDABLE.has(key) || key.startsWith('encrypt.')) continue;
      const createOnly = createOptions.some((o) => o.name === key);
      throw new CommandError(`Invalid parameter '${key}'${createOnly ? '\nThis option is only supported for image creation' : ''}`);
    }
    // Size-typed options reach the driver in bytes ("2M" -> "2097152"); numbers are checked as QEMU parses them.
    for (const spec of createOptions) {
      const v = opts[spec.name];
      if (spec.type === 'number' && v !== undefined) checkNumber(spec.name, v);
      if (spec.type !== 'size' || v === undefined) continue;
      try {
        opts[spec.name] = String(parseSize(v));
      } catch {
        throw new CommandError(`Parameter '${spec.name}' expects a non-negative number below 2^64`);
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

/**
 * QEMU's number options (qemu_strtou64, base 0): refused before anything
 * happens (also by create); returns the value as QEMU prints it (%PRId64).
 */
export function checkNumber(name: string, v: string): string {
  const n = parseCNumber(v);
  if (n === 'invalid') throw new CommandError(`Parameter '${name}' expects a number`);
  if (n === 'range') throw new CommandError(`Value '${v}' is too large for parameter '${name}'`);
  return BigInt.asIntN(64, n).toString();
}

/** qcow2's amend options (QEMU's common create/amend list); the rest of the create options are create-only. */
const AMENDABLE = new Set([
  'size', 'compat', 'backing_file', 'backing_fmt', 'data_file', 'data_file_raw', 'lazy_refcounts', 'refcount_bits',
]);

export const amendCommand: SubCommand = {
  name: 'amend',
  syntax: 'amend [--object objectdef] [--image-opts] [-p] [-q] [-f fmt] [-t cache] [--force] -o options filename',
  run,
};
