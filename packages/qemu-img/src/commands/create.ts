// qemu-img create: a new image of a given format and size.
import {
  createImage, findDriver, formattingLine as coreFormattingLine, openImage, parseOptionString, type BlockDriver,
} from '@tsemu/block-core';
import { findSecret } from '@tsemu/block-drivers';
import { getopt, UsageError } from '../getopt.js';
import { CommandError, HelpRequested, type Context } from '../io.js';
import { createOptionsOf, formattingLine, optionHelpText } from '../create-options.js';
import { exactSize, joinOptions, parseImageSize, parseSizeParam, qemuOptsProblem, wantsOptionHelp } from '../options.js';
import type { SubCommand } from './command.js';
import { defineObject } from '../objects.js';

async function run(ctx: Context, args: string[]): Promise<number> {
  const { options, operands } = getopt('create', args, {
    short: ':F:b:f:ho:qu',
    long: [
      { name: 'help', arg: 'none', key: 'h' },
      { name: 'object', arg: 'required', key: 'object' },
    ],
  });
  let format = 'raw';
  let optionText: string | undefined;
  let backing: string | undefined;
  let backingFormat: string | undefined;
  let quiet = false;
  let unsafe = false;
  for (const o of options) {
    if (o.key === 'h') throw new HelpRequested();
    if (o.key === 'object') {
      defineObject(o.arg!);
      continue;
    }
    if (o.key === 'f') format = o.arg!;
    else if (o.key === 'o') optionText = joinOptions(optionText, o.arg!);
    else if (o.key === 'b') backing = o.arg;
    else if (o.key === 'F') backingFormat = o.arg;
    else if (o.key === 'q') quiet = true;
    else if (o.key === 'u') unsafe = true;
  }

  if (wantsOptionHelp(optionText)) {
    const driver = findDriver(format);
    if (!driver) throw new CommandError(`Unknown file format '${format}'`);
    ctx.out(optionHelpText(driver, operands[0]));
    return 0;
  }
  if (operands.length < 1) throw new UsageError('Expecting image file name');
  if (operands.length > 2) throw new UsageError(`Unexpected argument: ${operands[2]}`);
  const filename = operands[0]!;
  const sizeArg = operands[1] === undefined ? undefined : parseImageSize(operands[1]);

  // From here on qemu-img prefixes its complaints with the file name.
  const fail = (message: string): never => {
    throw new CommandError(`${filename}: ${message}`);
  };
  const driver = findDriver(format);
  if (!driver) fail(`Unknown file format '${format}'`);
  let opts: Record<string, string>;
  try {
    opts = optionText === undefined ? {} : parseOptionString(optionText);
  } catch (err) {
    return fail((err as Error).message);
  }
  // QemuOpts check each -o option as they parse it, in the order given, before anything is printed.
  checkCreateOptions(driver!, opts, fail);
  let size = sizeArg;
  let sizeText = operands[1];
  if (opts.size !== undefined) {
    if (size !== undefined) fail('The image size must be specified only once');
    size = Number(parseSizeParam(opts.size));
    sizeText = opts.size;
  }
  delete opts.size;
  const takes = (name: string): boolean => driver!.createOptions?.some((o) => o.name === name) === true;
  if (backing !== undefined && !takes('backing_file')) fail(`Backing file not supported for file format '${format}'`);
  if (backingFormat !== undefined && !takes('backing_fmt')) fail(`Backing file format not supported for file format '${format}'`);
  if (backing !== undefined) opts.backing_file = backing;
  if (backingFormat !== undefined) opts.backing_fmt = backingFormat;
  // -b and -o backing_file= are one option to qemu-img, and so are -F and -o backing_fmt=.
  const backingFile = opts.backing_file;
  const backingFmt = opts.backing_fmt;
  if (backingFile === filename) fail('Error: Trying to create an image with the same filename as the backing file');
  if (backingFile === '') fail('Expected backing file name, got empty string');
  // Without -u the backing image must open; it gives the size when none is given.
  if (backingFile !== undefined && !unsafe) {
    const probe = await openBacking(filename, backingFile, backingFmt);
    if ('error' in probe) fail(`${probe.error}\nCould not open backing image.`);
    else if (backingFmt === undefined) {
      ctx.io.stderr.write(`qemu-img: ${filename}: Backing file specified without backing format\nDetected format of ${probe.format}.`);
      return 1;
    } else size ??= probe.size;
  }
  // With -u nothing can tell the format: qemu-img 7.2 wants it given.
  if (backingFile !== undefined && unsafe && backingFmt === undefined) fail('Backing file specified without backing format');
  if (size === undefined) fail('Image creation needs a size parameter');

  const exact = size !== undefined && size > Number.MAX_SAFE_INTEGER && sizeText !== undefined ? exactSize(sizeText) : undefined;
  if (exact !== undefined) return hugeImage(ctx, filename, driver!, format, exact, opts, quiet);

  let line: string;
  try {
    line = await createImage({ filename, format, size: size ?? 0, options: opts, secret: findSecret });
  } catch (err) {
    // qemu-img announces the image before creating it, so the line precedes the error.
    if (!quiet) ctx.out(`${announce(filename, driver!, format, size ?? 0, opts)}\n`);
    if ((err as { code?: string }).code === 'EFBIG') fail(tooLarge(driver!, format));
    const message = (err as Error).message;
    throw new CommandError(message.startsWith(`${filename}: `) ? message : `${filename}: ${message}`);
  }
  if (!quiet) ctx.out(`${line}\n`);
  return 0;
}

/** qemu-img's words for EFBIG from a driver's create (the hint where the format has a cluster size). */
function tooLarge(driver: BlockDriver, format: string): string {
  const hint = driver.createOptions?.some((o) => o.name === 'cluster_size') ? ' (try using a larger cluster size)' : '';
  return `The image size is too large for file format '${format}'${hint}`;
}

/**
 * Sizes past 2^53, which block-core's numbers cannot hold: the Formatting
 * line with the exact size, then what qemu-img answers where that is
 * known without making the image: a qcow2 L1 table past its 32 MiB limit,
 * or a raw file (an empty file is left, as qemu-img leaves it, and the size
 * is too large for tsemu's file driver, as it is for ext4's). qcow2 images
 * that large qemu-img would make are refused.
 */
async function hugeImage(
  ctx: Context, filename: string, driver: BlockDriver, format: string, size: bigint, opts: Record<string, string>, quiet: boolean,
): Promise<number> {
  const SENTINEL = 1;
  const line = announce(filename, driver, format, SENTINEL, opts).replace(/ size=1(?= |$)/, ` size=${size}`);
  if (!quiet) ctx.out(`${line}\n`);
  const fail = (message: string): never => {
    throw new CommandError(`${filename}: ${message}`);
  };
  if (driver.name === 'qcow2') {
    const cs = opts.cluster_size === undefined ? 65536n : parseSizeParam(opts.cluster_size, 'cluster_size');
    const perL1 = cs * (cs / 8n);
    if (perL1 > 0n && (size + perL1 - 1n) / perL1 > BigInt(32 * 1024 * 1024 / 8)) fail(tooLarge(driver, format));
  } else if (driver.name === 'raw' || driver.name === 'file') {
    try {
      await createImage({ filename, format, size: 0, options: opts });
    } catch (err) {
      fail((err as Error).message);
    }
    fail(tooLarge(driver, format));
  }
  return fail('Invalid image size specified');
}

/** The Formatting line of a failed creation: in the driver's option order when it places `size` (qcow2). */
function announce(filename: string, driver: BlockDriver, format: string, size: number, opts: Record<string, string>): string {
  if (driver.createOptions?.some((o) => o.name === 'size')) {
    try {
      return coreFormattingLine(driver, { filename, format, size, options: opts });
    } catch {
      // an unparsable size option: the generic line below
    }
  }
  return formattingLine(filename, driver, size, opts);
}

/** Opens the backing image as QEMU does at create time: relative to the new image's directory. */
async function openBacking(filename: string, backing: string, format: string | undefined): Promise<{ size: number; format: string } | { error: string }> {
  const slash = filename.lastIndexOf('/');
  const path = backing.startsWith('/') || /^[a-z+]+:/.test(backing) || slash < 0 ? backing : filename.slice(0, slash + 1) + backing;
  try {
    // As qemu-img: no I/O (BDRV_O_NO_IO), so an encrypted backing image gives its size without a key.
    const blk = await openImage({ filename: path, format, readOnly: true, noBacking: true, noIo: true });
    try {
      return { size: await blk.getLength(), format: blk.root.driver.name };
    } finally {
      await blk.close();
    }
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

export const createCommand: SubCommand = {
  name: 'create',
  syntax: 'create [--object objectdef] [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]',
  run,
};

/**
 * The checks QemuOpts makes while it parses -o, in the user's order: a name
 * neither the format nor its protocol knows (drivers listing no options take
 * any), then the value by the option's type. Values stay as given: the
 * Formatting line shows numbers and sizes normalised, and the driver reads
 * the text itself (qcow2's refcount_bits is read twice, as in QEMU).
 */
function checkCreateOptions(driver: BlockDriver, opts: Record<string, string>, fail: (message: string) => never): void {
  if (!driver.createOptions) return;
  const problem = qemuOptsProblem(createOptionsOf(driver, true), opts, true);
  if (problem !== undefined) fail(problem);
}

