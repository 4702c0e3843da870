// qemu-img dd: copy bs-sized blocks from if= to a new of= image, optionally
// skipping input blocks and stopping after count blocks (qemu-img's own
// reading of count: the input's end offset, not a number of copied blocks).
import { createImage, findDriver, strerror, BlockError } from '@tsemu/block-core';
import type { BlockBackend } from '@tsemu/block-core';
import { getopt } from '../getopt.js';
import { closeQuietly, open } from '../image.js';
import { CommandError, HelpRequested, type Context } from '../io.js';
import type { SubCommand } from './command.js';
import { defineObject } from '../objects.js';
import { cvtnum, INT_MAX } from '../options.js';


interface DdOperands {
  input?: string;
  output?: string;
  blockSize: number;
  count?: number;
  skip?: number;
}

/** bs= is checked against 1..INT_MAX, also when it overflows. */
function blockSizeOperand(value: string): number {
  const range = new CommandError('Invalid bs specified. Must be between 1 and 2147483647.');
  let n: number;
  try {
    n = cvtnum('bs', value);
  } catch (err) {
    if ((err as Error).message.includes('Must be between')) throw range;
    throw err;
  }
  if (n < 1 || n > INT_MAX) throw range;
  return n;
}

function parseOperands(words: string[]): DdOperands {
  const dd: DdOperands = { blockSize: 512 };
  for (const word of words) {
    const eq = word.indexOf('=');
    const key = eq < 0 ? '' : word.slice(0, eq);
    const value = word.slice(eq + 1);
    if (key === 'if') dd.input = value;
    else if (key === 'of') dd.output = value;
    else if (key === 'count') dd.count = cvtnum('count', value);
    else if (key === 'skip') dd.skip = cvtnum('skip', value);
    else if (key === 'bs') dd.blockSize = blockSizeOperand(value);
    else throw new CommandError(`unrecognized operand ${eq < 0 ? word : key}`);
  }
  return dd;
}

function reason(err: unknown): string {
  return err instanceof BlockError ? strerror(err.code) ?? err.message : (err as Error).message;
}

async function run(ctx: Context, args: string[]): Promise<number> {
  const { options, operands } = getopt('dd', args, {
    short: ':hf:O:U',
    long: [
      { name: 'help', arg: 'none', key: 'h' },
      { name: 'object', arg: 'required', key: 'object' },
      { name: 'image-opts', arg: 'none', key: 'image-opts' },
      { name: 'force-share', arg: 'none', key: 'U' },
    ],
  });
  let format: string | undefined;
  let outFormat = 'raw';
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
    else if (o.key === 'image-opts') imageOpts = true;
    else if (o.key === 'U') forceShare = true;
  }
  const dd = parseOperands(operands);
  if (dd.input === undefined || dd.output === undefined) throw new CommandError('Must specify both input and output files');
  const bs = dd.blockSize;

  let src: BlockBackend | undefined;
  let dst: BlockBackend | undefined;
  try {
    src = await open(ctx, { filename: dd.input, format, readOnly: true, imageOpts, forceShare });
    const driver = findDriver(outFormat);
    if (!driver) throw new CommandError('Unknown file format');
    let end = await src.getLength();
    if (dd.count !== undefined && dd.count * bs < end) end = dd.count * bs;
    // A skip beyond `end` is reported but not an error: the output is empty.
    const skipTooFar = dd.skip !== undefined && dd.skip * bs > end;
    let pos = skipTooFar ? end : (dd.skip ?? 0) * bs;
    try {
      await createImage({ filename: dd.output, format: outFormat, size: end - pos, options: {} });
    } catch (err) {
      throw new CommandError(`${dd.output}: error while creating output image: ${(err as Error).message}`);
    }
    if (skipTooFar) ctx.error(`${dd.input}: cannot skip to specified offset`);
    dst = await open(ctx, { filename: dd.output, format: outFormat, readOnly: false, cache: 'unsafe' });

    const buf = new Uint8Array(Math.min(bs, Math.max(end - pos, 0)));
    for (let out = 0; pos < end; ) {
      const n = Math.min(bs, end - pos);
      const view = n === buf.length ? buf : buf.subarray(0, n);
      try {
        await src.read(pos, view);
      } catch (err) {
        throw new CommandError(`error while reading from input image file: ${reason(err)}`);
      }
      try {
        await dst.write(out, view);
      } catch (err) {
        throw new CommandError(`error while writing to output image file: ${reason(err)}`);
      }
      pos += n;
      out += n;
    }
    await dst.flush();
  } finally {
    await closeQuietly(dst);
    await closeQuietly(src);
  }
  return 0;
}

export const ddCommand: SubCommand = {
  name: 'dd',
  syntax: 'dd [--image-opts] [-U] [-f fmt] [-O output_fmt] [bs=block_size] [count=blocks] [skip=blocks] if=input of=output',
  run,
};
