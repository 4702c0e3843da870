// qemu-img compare: are two images' guest-visible contents equal? Exit 0 if
// so, 1 if not, 2 on errors. Block status is that of each whole backing chain. Strict mode (-s) also wants equal sizes and
// equal allocation.
import { isAllZero } from '@tsemu/block-core';
import type { BlockBackend, BlockStatus } from '@tsemu/block-core';
import { chainStatus } from '../chain-status.js';
import { getopt, UsageError } from '../getopt.js';
import { asCommandError, closeQuietly, open } from '../image.js';
import { HelpRequested, type Context } from '../io.js';
import { parseCache } from '../options.js';
import { ProgressMeter } from '../progress.js';
import type { SubCommand } from './command.js';
import { defineObject } from '../objects.js';

const CHUNK = 2 * 1024 * 1024;
const SECTOR = 512;

export const EXIT_COMPARE_ERROR = 2;

type Verdict = { kind: 'same' } | { kind: 'differ'; message: string };

/** Offset of the first differing 512-byte sector between a and b, or -1. */
function firstDifference(a: Uint8Array, b: Uint8Array, length: number): number {
  for (let i = 0; i < length; i++) {
    if (a[i] !== b[i]) return i - (i % SECTOR);
  }
  return -1;
}

function firstNonZero(buf: Uint8Array, length: number): number {
  for (let i = 0; i < length; i++) if (buf[i] !== 0) return i - (i % SECTOR);
  return -1;
}

/**
 * Strict mode compares QEMU's whole status word: allocated, zero, data, a
 * usable host offset (not compressed) and "this run reaches the end" (EOF).
 */
function statusWord(s: BlockStatus, offset: number, size: number): string {
  const offsetValid = s.offset !== undefined && !s.compressed;
  return [s.allocated, s.zero, s.data, offsetValid, offset + s.length >= size].map(Number).join('');
}

class Comparison {
  private readonly buf1 = new Uint8Array(CHUNK);
  private readonly buf2 = new Uint8Array(CHUNK);

  constructor(
    private readonly blk1: BlockBackend,
    private readonly blk2: BlockBackend,
    private readonly strict: boolean,
    private readonly progress: ProgressMeter | undefined,
  ) {}

  async run(size1: number, size2: number, warn: (line: string) => void): Promise<Verdict> {
    if (size1 !== size2 && this.strict) return { kind: 'differ', message: 'Strict mode: Image size mismatch!' };
    const common = Math.min(size1, size2);
    const total = Math.max(size1, size2);
    this.progress?.set(0);
    let offset = 0;
    while (offset < common) {
      const s1 = await chainStatus(this.blk1, offset, common - offset);
      const s2 = await chainStatus(this.blk2, offset, common - offset);
      // Zero in both: skipped whole, one progress step (qemu-img caps only what it reads).
      const bothZero = s1.zero && s2.zero;
      const n = Math.min(Math.max(1, s1.length), Math.max(1, s2.length), bothZero ? Infinity : CHUNK, common - offset);
      if (this.strict && statusWord(s1, offset, common) !== statusWord(s2, offset, common)) {
        return { kind: 'differ', message: `Strict mode: Offset ${offset} block status mismatch!` };
      }
      if (!bothZero) {
        const a = this.buf1.subarray(0, n);
        const b = this.buf2.subarray(0, n);
        await this.blk1.read(offset, a);
        await this.blk2.read(offset, b);
        const diff = firstDifference(a, b, n);
        if (diff >= 0) return { kind: 'differ', message: `Content mismatch at offset ${offset + diff}!` };
      }
      offset += n;
      this.progress?.set((offset * 100) / total);
    }
    // The rest of the longer image must read as zeroes.
    if (size1 !== size2) warn('Warning: Image size mismatch!');
    const longer = size1 > size2 ? this.blk1 : this.blk2;
    while (offset < total) {
      const s = await chainStatus(longer, offset, total - offset);
      const n = Math.min(Math.max(1, s.length), s.zero ? Infinity : CHUNK, total - offset);
      if (!s.zero) {
        const a = this.buf1.subarray(0, n);
        await longer.read(offset, a);
        if (!isAllZero(a)) return { kind: 'differ', message: `Content mismatch at offset ${offset + firstNonZero(a, n)}!` };
      }
      offset += n;
      this.progress?.set((offset * 100) / total);
    }
    return { kind: 'same' };
  }
}

async function run(ctx: Context, args: string[]): Promise<number> {
  const { options, operands } = getopt('compare', args, {
    short: ':hf:F:T:pqsU',
    long: [
      { name: 'help', arg: 'none', key: 'h' },
      { name: 'object', arg: 'required', key: 'object' },
      { name: 'image-opts', arg: 'none', key: 'image-opts' },
      { name: 'force-share', arg: 'none', key: 'U' },
    ],
  });
  let fmt1: string | undefined;
  let fmt2: string | undefined;
  let cache = 'writeback';
  let progress = false;
  let quiet = false;
  let strict = false;
  let imageOpts = false;
  let forceShare = false;
  for (const o of options) {
    if (o.key === 'h') throw new HelpRequested();
    if (o.key === 'object') {
      defineObject(o.arg!, 2);
      continue;
    }
    if (o.key === 'f') fmt1 = o.arg;
    else if (o.key === 'F') fmt2 = o.arg;
    else if (o.key === 'T') cache = o.arg!;
    else if (o.key === 'p') progress = true;
    else if (o.key === 'q') quiet = true;
    else if (o.key === 's') strict = true;
    else if (o.key === 'image-opts') imageOpts = true;
    else if (o.key === 'U') forceShare = true;
  }
  if (operands.length !== 2) throw new UsageError('Expecting two image file names');
  let cacheMode: string;
  try {
    cacheMode = parseCache(cache, true);
  } catch (err) {
    throw asCommandError(err, EXIT_COMPARE_ERROR);
  }
  const common = { readOnly: true, cache: cacheMode, imageOpts, forceShare, failStatus: EXIT_COMPARE_ERROR };
  let blk1: BlockBackend | undefined;
  let blk2: BlockBackend | undefined;
  let meter: ProgressMeter | undefined;
  try {
    blk1 = await open(ctx, { ...common, filename: operands[0]!, format: fmt1 });
    blk2 = await open(ctx, { ...common, filename: operands[1]!, format: fmt2 });
    meter = progress && !quiet ? new ProgressMeter(ctx.io.stdout, 2) : undefined;
    const say = (line: string): void => {
      if (!quiet) ctx.out(`${line}\n`);
    };
    let verdict: Verdict;
    try {
      const cmp = new Comparison(blk1, blk2, strict, meter);
      verdict = await cmp.run(await blk1.getLength(), await blk2.getLength(), say);
    } catch (err) {
      throw asCommandError(err, EXIT_COMPARE_ERROR);
    }
    if (verdict.kind === 'differ') {
      say(verdict.message);
      return 1;
    }
    say('Images are identical.');
    return 0;
  } finally {
    // qemu-img ends the progress line after the verdict.
    meter?.end();
    await closeQuietly(blk2);
    await closeQuietly(blk1);
  }
}

export const compareCommand: SubCommand = {
  name: 'compare',
  syntax: 'compare [--object objectdef] [--image-opts] [-f fmt] [-F fmt] [-T src_cache] [-p] [-q] [-s] [-U] filename1 filename2',
  run,
};
