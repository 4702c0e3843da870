// Commands about the image as a whole: length, info, map, alloc, discard,
// truncate, flush.
import type { FormatSpecificInfo, Preallocation } from '@tsemu/block-core';
import { cvtstr, formatReport } from '../format.js';
import { EINVAL, EIO, ENOTSUP, type Command, type Session } from '../session.js';
import { errnoText, errorText } from '../errors.js';
import { countArg, now } from './args.js';


const length: Command = {
  name: 'length', alt: 'l', argmin: 0, argmax: 0,
  async run(s) {
    try {
      s.out(`${cvtstr(await s.blk!.getLength())}\n`);
      return 0;
    } catch (e) {
      s.out(`getlength: ${errnoText(e)}\n`);
      return EIO;
    }
  },
};

/** "lazy-refcounts" / "lazyRefcounts" -> "lazy refcounts", as QEMU's info dump names keys. */
const keyName = (k: string): string => k.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[-_]/g, ' ').toLowerCase();

function dumpTree(data: Record<string, unknown>, indent: number): string {
  const pad = '    '.repeat(indent);
  let text = '';
  for (const [key, value] of Object.entries(data)) {
    if (value === undefined) continue;
    if (value !== null && typeof value === 'object') {
      text += `${pad}${keyName(key)}:\n${dumpTree(value as Record<string, unknown>, indent + 1)}`;
    } else {
      text += `${pad}${keyName(key)}: ${String(value)}\n`;
    }
  }
  return text;
}

export function formatSpecific(spec: FormatSpecificInfo | undefined): string {
  if (!spec || Object.keys(spec.data).length === 0) return '';
  return `Format specific information:\n${dumpTree(spec.data, 1)}`;
}

const info: Command = {
  name: 'info', alt: 'i', argmin: 0, argmax: 0,
  run(s) {
    let i;
    try {
      i = s.blk!.info();
    } catch {
      return EINVAL;
    }
    // A driver with a protocol name (file, nbd, null-co, blkdebug) has both names, and qemu-io prints both.
    if (s.blk!.root.driver.protocols !== undefined) s.out(`format name: ${i.format}\n`);
    s.out(`format name: ${i.format}\n`);
    // qemu-io fails here, without a message, when bdrv_get_info has no answer.
    if (!s.blk!.root.answersInfo()) return ENOTSUP;
    s.out(`cluster size: ${cvtstr(i.clusterSize ?? 0)}\nvm state offset: ${cvtstr(i.vmStateOffset ?? 0)}\n`);
    s.out(formatSpecific(i.formatSpecific));
    return 0;
  },
};

const map: Command = {
  name: 'map', argmin: 0, argmax: 0,
  async run(s) {
    const blk = s.blk!;
    let bytes: number;
    try {
      bytes = await blk.getLength();
    } catch (e) {
      s.err(`qemu-io: Failed to query image length: ${errnoText(e)}`);
      return EIO;
    }
    let offset = 0;
    try {
      while (bytes > 0) {
        // Merge neighbouring extents with the same status into one line.
        const first = await blk.isAllocated(offset, bytes);
        if (first.length === 0) {
          s.err('qemu-io: Unexpected end of image');
          return EIO;
        }
        let num = first.length;
        while (num < bytes) {
          const next = await blk.isAllocated(offset + num, bytes - num);
          if (next.length === 0 || next.allocated !== first.allocated) break;
          num += next.length;
        }
        const state = first.allocated ? '    allocated' : 'not allocated';
        s.out(`${cvtstr(num)} (0x${num.toString(16)}) bytes ${state} at offset ${cvtstr(offset)} (0x${offset.toString(16)})\n`);
        offset += num;
        bytes -= num;
      }
    } catch (e) {
      s.err(`qemu-io: Failed to get allocation status: ${errnoText(e)}`);
      return EIO;
    }
    return 0;
  },
};

const alloc: Command = {
  name: 'alloc', alt: 'a', argmin: 1, argmax: 2,
  async run(s, argv) {
    const start = s.num(argv[1]);
    if (start === undefined) return EINVAL;
    let count = 512;
    if (argv.length === 3) {
      const c = s.num(argv[2]);
      if (c === undefined) return EINVAL;
      count = c;
    }
    let offset = start;
    let remaining = count;
    let allocated = 0;
    try {
      while (remaining > 0) {
        const r = await s.blk!.isAllocated(offset, remaining);
        if (r.length === 0) {
          count -= remaining; // stopped at the end of the image
          break;
        }
        offset += r.length;
        remaining -= r.length;
        if (r.allocated) allocated += r.length;
      }
    } catch (e) {
      s.out(`is_allocated failed: ${errnoText(e)}\n`);
      return EIO;
    }
    s.out(`${allocated}/${count} bytes allocated at offset ${cvtstr(start)}\n`);
    return 0;
  },
};

const discard: Command = {
  name: 'discard', alt: 'd', argmin: 2, argmax: -1, write: true,
  async run(s, argv) {
    const o = s.getopt(argv, 'Cq');
    if (!o.ok) return EINVAL;
    const machine = o.options.some((x) => x.key === 'C');
    const quiet = o.options.some((x) => x.key === 'q');
    if (o.operands.length !== 2) return s.usage('discard');
    const offset = s.num(o.operands[0]);
    if (offset === undefined) return EINVAL;
    const bytes = countArg(s, o.operands[1]);
    if (bytes === undefined) return EINVAL;
    const t1 = now();
    try {
      await s.blk!.discard(offset, bytes);
    } catch (e) {
      s.out(`discard failed: ${errnoText(e)}\n`);
      return EINVAL;
    }
    const t2 = now();
    if (!quiet) s.out(formatReport('discard', t2 - t1, offset, bytes, bytes, 1, machine));
    return 0;
  },
};

const PREALLOC = new Set(['off', 'metadata', 'falloc', 'full']);

const truncate: Command = {
  name: 'truncate', alt: 't', argmin: 1, argmax: 3, write: true,
  async run(s, argv) {
    const o = s.getopt(argv, 'm:');
    if (!o.ok) return EINVAL;
    let prealloc: Preallocation = 'off';
    for (const { value } of o.options) {
      if (!PREALLOC.has(value!)) {
        s.err(`qemu-io: Invalid preallocation mode '${value}'`);
        return EINVAL;
      }
      prealloc = value as Preallocation;
    }
    // qemu-io 7.2 reads the first operand and ignores any others (with none left after -m it crashes; we show usage).
    if (o.operands.length === 0) return s.usage('truncate');
    const size = s.num(o.operands[0]);
    if (size === undefined) return EINVAL;
    try {
      await s.blk!.truncate(size, { exact: false, prealloc });
      return 0;
    } catch (e) {
      s.err(`qemu-io: ${errorText(e, true)}`);
      return EINVAL;
    }
  },
};

const flush: Command = {
  name: 'flush', alt: 'f', argmin: 0, argmax: 0,
  async run(s) {
    try {
      await s.blk!.flush();
      return 0;
    } catch {
      return EIO;
    }
  },
};

export const imageCommands: Command[] = [length, info, map, alloc, discard, truncate, flush];
