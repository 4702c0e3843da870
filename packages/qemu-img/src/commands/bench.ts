// qemu-img bench: a fixed number of reads (or writes) of one buffer size,
// stepping through the image with a given queue depth, timed.
import { BlockError, cFixed, strerror } from '@tsemu/block-core';
import type { BlockBackend } from '@tsemu/block-core';
import { getopt, UsageError } from '../getopt.js';
import { closeQuietly, open } from '../image.js';
import { CommandError, HelpRequested, type Context } from '../io.js';
import { cvtnum, INT_MAX, parseCache } from '../options.js';
import type { SubCommand } from './command.js';


interface BenchSettings {
  count: number;
  depth: number;
  bufferSize: number;
  step: number;
  offset: number;
  write: boolean;
  pattern: number;
  flushInterval: number;
  drain: boolean;
}

/** strtol with base 0: decimal, 0x hex or leading-0 octal. */
function parseCInteger(text: string): number {
  if (/^0[xX][0-9a-fA-F]+$/.test(text)) return parseInt(text.slice(2), 16);
  if (/^0[0-7]+$/.test(text)) return parseInt(text.slice(1), 8);
  return /^[0-9]+$/.test(text) ? Number(text) : NaN;
}

function intOption(text: string, what: string, min: number, max = 2 ** 31 - 1): number {
  const n = parseCInteger(text);
  if (!(n >= min && n <= max)) throw new CommandError(`Invalid ${what} specified`);
  return n;
}

/** The request loop: `depth` lanes issue requests until `count` have been sent. */
class BenchRun {
  private sent = 0;
  private done = 0;
  private sinceFlush = 0;
  private flushing: Promise<void> | undefined;

  constructor(private readonly blk: BlockBackend, private readonly s: BenchSettings, private readonly imageSize: number) {}

  async run(): Promise<void> {
    const lanes: Promise<void>[] = [];
    for (let i = 0; i < Math.min(this.s.depth, this.s.count); i++) lanes.push(this.lane());
    await Promise.all(lanes);
  }

  /** The first request goes where -o says; later ones wrap around the image end. */
  private offsetOf(index: number): number {
    if (index === 0) return this.s.offset;
    return this.imageSize === 0 ? 0 : (this.s.offset + index * this.s.step) % this.imageSize;
  }

  private async lane(): Promise<void> {
    const buf = new Uint8Array(this.s.bufferSize).fill(this.s.write ? this.s.pattern : 0);
    while (this.sent < this.s.count) {
      if (this.flushing) await this.flushing;
      const offset = this.offsetOf(this.sent++);
      if (this.s.write) await this.blk.write(offset, buf);
      else await this.blk.read(offset, buf);
      this.done++;
      if (this.s.flushInterval > 0 && ++this.sinceFlush >= this.s.flushInterval) {
        this.sinceFlush = 0;
        // Without --no-drain, new requests wait until the flush is through.
        const flush = this.blk.flush();
        if (this.s.drain) this.flushing = flush.finally(() => (this.flushing = undefined));
        await flush;
      }
    }
  }
}

async function run(ctx: Context, args: string[]): Promise<number> {
  const { options, operands } = getopt('bench', args, {
    short: ':hc:d:f:ni:o:qs:S:t:wU',
    long: [
      { name: 'help', arg: 'none', key: 'h' },
      { name: 'flush-interval', arg: 'required', key: 'flush-interval' },
      { name: 'image-opts', arg: 'none', key: 'image-opts' },
      { name: 'pattern', arg: 'required', key: 'pattern' },
      { name: 'no-drain', arg: 'none', key: 'no-drain' },
      { name: 'force-share', arg: 'none', key: 'U' },
    ],
  });
  const s: BenchSettings = { count: 75000, depth: 64, bufferSize: 4096, step: 0, offset: 0, write: false, pattern: 0, flushInterval: 0, drain: true };
  let format: string | undefined;
  let cache = 'writeback';
  let aio: string | undefined;
  let imageOpts = false;
  let forceShare = false;
  for (const o of options) {
    const v = o.arg!;
    switch (o.key) {
      case 'h': throw new HelpRequested();
      case 'c': s.count = intOption(v, 'request count', 0); break;
      case 'd': s.depth = intOption(v, 'queue depth', 1); break;
      case 'f': format = v; break;
      case 'n': aio = 'native'; break; // qemu-img bench's -n: native AIO, as -i native
      case 'i':
        if (!['threads', 'native', 'io_uring'].includes(v)) throw new CommandError(`Invalid aio option: ${v}`);
        aio = v;
        break;
      case 'o': s.offset = cvtnum('offset', v); break;
      case 's': s.bufferSize = cvtnum('buffer size', v, INT_MAX); break;
      case 'S': s.step = cvtnum('step_size', v, INT_MAX); break;
      case 't':
        try {
          cache = parseCache(v, false);
        } catch {
          throw new CommandError('Invalid cache mode');
        }
        break;
      case 'w': s.write = true; break;
      case 'pattern': s.pattern = intOption(v, 'pattern byte', 0, 255); break;
      case 'flush-interval': s.flushInterval = intOption(v, 'flush interval', 0); break;
      case 'no-drain': s.drain = false; break;
      case 'image-opts': imageOpts = true; break;
      case 'U': forceShare = true; break;
      default: break; // -q: qemu-img bench prints its lines anyway
    }
  }
  if (operands.length !== 1) throw new UsageError('Expecting one image file name');
  if (s.flushInterval > 0 && !s.write) throw new CommandError('--flush-interval is only available in write tests');
  if (s.flushInterval > 0 && s.flushInterval < s.depth) throw new CommandError("Flush interval can't be smaller than depth");
  if (s.step === 0) s.step = s.bufferSize; // qemu-img's `step ?: bufsize`: -S 0 too

  // The AIO mode is the file node's (the protocol under the format, or the image itself with -f file).
  const aioOptions = aio === undefined || aio === 'threads' || imageOpts ? undefined : { [format === 'file' ? 'aio' : 'file.aio']: aio };
  const blk = await open(ctx, { filename: operands[0]!, format, readOnly: !s.write, cache, imageOpts, forceShare, ...(aioOptions && { options: aioOptions }) });
  try {
    ctx.out(
      `Sending ${s.count} ${s.write ? 'write' : 'read'} requests, ${s.bufferSize} bytes each, ${s.depth} in parallel ` +
        `(starting at offset ${s.offset}, step size ${s.step})\n`,
    );
    if (s.flushInterval > 0) ctx.out(`Sending flush every ${s.flushInterval} requests\n`);
    const started = process.hrtime.bigint();
    try {
      await new BenchRun(blk, s, await blk.getLength()).run();
    } catch (err) {
      const reason = err instanceof BlockError ? strerror(err.code) ?? err.message : (err as Error).message;
      throw new CommandError(`Failed request: ${reason}`);
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    ctx.out(`Run completed in ${cFixed(seconds, 3)} seconds.\n`);
  } finally {
    await closeQuietly(blk);
  }
  return 0;
}

export const benchCommand: SubCommand = {
  name: 'bench',
  syntax:
    'bench [-c count] [-d depth] [-f fmt] [--flush-interval=flush_interval] [-i aio] [-n] [--no-drain] [-o offset] [--pattern=pattern] [-q] [-s buffer_size] [-S step_size] [-t cache] [-w] [-U] filename',
  run,
};
