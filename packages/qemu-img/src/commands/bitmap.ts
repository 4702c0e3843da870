// qemu-img bitmap: persistent dirty bitmap operations, applied in command-line
// order to one bitmap of a read-write image (stored when it closes, so the
// operations before a failing one stay done, as in qemu-img 7.2). Option
// checks, messages and exit codes as qemu-img 7.2 gives them.
import { realpathSync } from 'node:fs';
import { parseSize, type BlockBackend } from '@tsemu/block-core';
import { bitmapsOf, type PersistentBitmaps } from '../bitmaps.js';
import { getopt } from '../getopt.js';
import { closeQuietly, open } from '../image.js';
import { CommandError, HelpRequested, type Context } from '../io.js';
import { defineObject } from '../objects.js';
import type { SubCommand } from './command.js';

type Op = { kind: 'add' | 'remove' | 'clear' | 'enable' | 'disable' } | { kind: 'merge'; source: string };

const DEFAULT_GRANULARITY = 65536;

async function run(ctx: Context, args: string[]): Promise<number> {
  const { options, operands } = getopt('bitmap', args, {
    short: ':b:f:F:g:h',
    long: [
      { name: 'help', arg: 'none', key: 'h' },
      { name: 'object', arg: 'required', key: 'object' },
      { name: 'image-opts', arg: 'none', key: 'image-opts' },
      { name: 'add', arg: 'none', key: 'add' },
      { name: 'remove', arg: 'none', key: 'remove' },
      { name: 'clear', arg: 'none', key: 'clear' },
      { name: 'enable', arg: 'none', key: 'enable' },
      { name: 'disable', arg: 'none', key: 'disable' },
      { name: 'merge', arg: 'required', key: 'merge' },
      { name: 'granularity', arg: 'required', key: 'g' },
      { name: 'source-file', arg: 'required', key: 'b' },
      { name: 'source-format', arg: 'required', key: 'F' },
    ],
  });
  const ops: Op[] = [];
  let format: string | undefined;
  let imageOpts = false;
  let granularity = 0;
  let added = false;
  let merging = false;
  let sourceFile: string | undefined;
  let sourceFormat: string | undefined;
  for (const o of options) {
    switch (o.key) {
      case 'h': throw new HelpRequested();
      case 'object': defineObject(o.arg!); break;
      case 'image-opts': imageOpts = true; break;
      case 'f': format = o.arg; break;
      case 'b': sourceFile = o.arg; break;
      case 'F': sourceFormat = o.arg; break;
      case 'g': granularity = parseGranularity(o.arg!); break;
      case 'merge': ops.push({ kind: 'merge', source: o.arg! }); merging = true; break;
      case 'add': added = true; ops.push({ kind: o.key }); break;
      case 'remove': case 'clear': case 'enable': case 'disable': ops.push({ kind: o.key }); break;
      default: break;
    }
  }
  if (ops.length === 0) throw new CommandError('Need at least one of --add, --remove, --clear, --enable, --disable, or --merge');
  if (granularity !== 0 && !added) throw new CommandError('granularity only supported with --add');
  if (sourceFile !== undefined && !merging) throw new CommandError('Merge bitmap source file only supported with --merge');
  if (sourceFormat !== undefined && sourceFile === undefined) throw new CommandError('-F only supported with -b');
  if (operands.length !== 2) throw new CommandError('Expecting filename and bitmap name');
  const [filename, name] = operands as [string, string];
  const blk = await open(ctx, { filename, format, readOnly: false, imageOpts });
  let source: BlockBackend | undefined;
  try {
    if (sourceFile !== undefined) {
      // qemu-img holds a write lock on the image: opening it again as the source fails.
      if (!imageOpts && samePath(sourceFile, filename)) {
        throw new CommandError(`Could not open '${sourceFile}': Failed to get shared "write" lock\nIs another process using the image [${sourceFile}]?`);
      }
      source = await open(ctx, { filename: sourceFile, format: sourceFormat, readOnly: true });
    }
    const bitmaps = bitmapsOf(blk);
    for (const op of ops) {
      try {
        await apply(op, bitmaps, name, granularity, source === undefined ? bitmaps : bitmapsOf(source));
      } catch (err) {
        if (err instanceof CommandError) throw err;
        throw new CommandError(`Operation ${op.kind} on bitmap ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  } finally {
    await closeQuietly(source);
    await closeQuietly(blk);
  }
  return 0;
}

async function apply(
  op: Op, bitmaps: PersistentBitmaps | undefined, name: string, granularity: number, source: PersistentBitmaps | undefined,
): Promise<void> {
  if (op.kind === 'add' && bitmaps === undefined) throw new Error("Can't store persistent bitmaps to #block0: Operation not supported");
  if (bitmaps === undefined) throw new Error(`Dirty bitmap '${name}' not found`);
  switch (op.kind) {
    case 'add': bitmaps.add(name, granularity === 0 ? DEFAULT_GRANULARITY : granularity, false); break;
    case 'remove': await bitmaps.remove(name); break;
    case 'clear': bitmaps.clear(name); break;
    case 'enable': bitmaps.enable(name); break;
    case 'disable': bitmaps.disable(name); break;
    case 'merge': {
      bitmaps.usable(name);
      if (source === undefined) throw new Error(`Dirty bitmap '${op.source}' not found`);
      const from = source.usable(op.source);
      bitmaps.merge(name, await source.bitsOf(from), from.granularityBits);
      break;
    }
  }
}

/** -g: a size; anything else gets qemu-img's two-line complaint at once. */
function parseGranularity(text: string): number {
  try {
    return parseSize(text);
  } catch {
    throw new CommandError('Invalid granularity specified. You may use k, M, G, T, P or E suffixes for\n' +
      'qemu-img: kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.');
  }
}

function samePath(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

export const bitmapCommand: SubCommand = {
  name: 'bitmap',
  syntax:
    'bitmap (--merge SOURCE | --add | --remove | --clear | --enable | --disable)... [-b source_file [-F source_fmt]] [-g granularity] [--object objectdef] [--image-opts | -f fmt] filename bitmap',
  run,
};
