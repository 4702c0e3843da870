// write and writev: pattern, zero, file-sourced and FUA writes, checked in
// qemu-io's order (options, offset, length, then the flag combinations).
import { readFileSync } from 'node:fs';
import { formatReport } from '../format.js';
import { EINVAL, type Command, type Session, type Status } from '../session.js';
import { errnoText } from '../errors.js';
import { countArg, iovLengths, now, patternArg, splitIov } from './args.js';

/** write -s: the file's bytes, repeated to fill `count`. */
function bufferFromFile(s: Session, path: string, count: number): Uint8Array | undefined {
  let data: Uint8Array;
  try {
    data = readFileSync(path);
  } catch (e) {
    s.err(`${path}: ${errnoText(e)}`);
    return undefined;
  }
  if (data.length === 0) {
    s.err(`${path}: file is empty`);
    return undefined;
  }
  const buf = new Uint8Array(count);
  for (let at = 0; at < count; at += data.length) buf.set(data.subarray(0, Math.min(data.length, count - at)), at);
  return buf;
}

/** write -c: the format compresses (qcow2) or answers ENOTSUP (raw), as QEMU's does. */
function writeCompressed(s: Session, offset: number, buf: Uint8Array): Promise<void> {
  return s.blk!.writeCompressed(offset, buf);
}

const write: Command = {
  name: 'write', alt: 'w', argmin: 2, argmax: -1, write: true,
  async run(s, argv) {
    const o = s.getopt(argv, 'bcCfnpP:qs:uz');
    if (!o.ok) return EINVAL;
    let pattern = 0xcd;
    let pflag = false, sourceFile: string | undefined;
    let vmstate = false, compressed = false, machine = false, fua = false, noFallback = false, quiet = false, unmap = false, zero = false;
    for (const { key, value } of o.options) {
      if (key === 'b') vmstate = true;
      else if (key === 'c') compressed = true;
      else if (key === 'C') machine = true;
      else if (key === 'f') fua = true;
      else if (key === 'n') noFallback = true;
      else if (key === 'q') quiet = true;
      else if (key === 's') sourceFile = value;
      else if (key === 'u') unmap = true;
      else if (key === 'z') zero = true;
      else if (key === 'P') {
        pflag = true;
        const p = patternArg(s, value!);
        if (p === undefined) return EINVAL;
        pattern = p;
      }
    }
    if (o.operands.length !== 2) return s.usage('write');
    const fail = (msg: string): Status => (s.out(`${msg}\n`), EINVAL);
    if (vmstate && zero) return fail('-b and -z cannot be specified at the same time');
    if (fua && (vmstate || compressed)) return fail('-f and -b or -c cannot be specified at the same time');
    if (noFallback && !zero) return fail('-n requires -z to be specified');
    if (unmap && !zero) return fail('-u requires -z to be specified');
    if (Number(zero) + Number(pflag) + Number(sourceFile !== undefined) > 1) {
      return fail('Only one of -z, -P, and -s can be specified at the same time');
    }
    const offset = s.num(o.operands[0]);
    if (offset === undefined) return EINVAL;
    const count = noFallback ? s.num(o.operands[1]) : countArg(s, o.operands[1], ' without -n');
    if (count === undefined) return EINVAL;
    if (vmstate || compressed) {
      if (offset % 512 !== 0) return fail(`${offset} is not a sector-aligned value for 'offset'`);
      if (count % 512 !== 0) return fail(`${count} is not a sector-aligned value for 'count'`);
    }
    let buf: Uint8Array | undefined;
    if (!zero) {
      buf = sourceFile !== undefined ? bufferFromFile(s, sourceFile, count) : s.buffers.pattern(pattern, count);
      if (!buf) return EINVAL;
    }
    const blk = s.blk!;
    const t1 = now();
    try {
      if (zero) await blk.writeZeroes(offset, count, { fua, mayUnmap: unmap, noFallback });
      else if (vmstate) await blk.saveVmState(offset, buf!); // -b wins over -c, as in qemu-io
      else if (compressed) await writeCompressed(s, offset, buf!);
      else await blk.write(offset, buf!, fua ? { fua } : undefined);
    } catch (e) {
      s.out(`write failed: ${errnoText(e)}\n`);
      return EINVAL;
    }
    const t2 = now();
    if (!quiet) s.out(formatReport('wrote', t2 - t1, offset, count, count, 1, machine));
    return 0;
  },
};

const writev: Command = {
  name: 'writev', argmin: 2, argmax: -1, write: true,
  async run(s, argv) {
    const o = s.getopt(argv, 'CfqP:');
    if (!o.ok) return EINVAL;
    let pattern = 0xcd;
    let machine = false, fua = false, quiet = false;
    for (const { key, value } of o.options) {
      if (key === 'C') machine = true;
      else if (key === 'f') fua = true;
      else if (key === 'q') quiet = true;
      else if (key === 'P') {
        const p = patternArg(s, value!);
        if (p === undefined) return EINVAL;
        pattern = p;
      }
    }
    if (o.operands.length < 2) return s.usage('writev');
    const offset = s.num(o.operands[0]);
    if (offset === undefined) return EINVAL;
    const lens = iovLengths(s, o.operands.slice(1));
    if (!lens) return EINVAL;
    const count = lens.reduce((a, b) => a + b, 0);
    const t1 = now();
    try {
      await s.blk!.writev(offset, splitIov(s.buffers.pattern(pattern, count), lens), fua ? { fua } : undefined);
    } catch (e) {
      s.out(`writev failed: ${errnoText(e)}\n`);
      return EINVAL;
    }
    const t2 = now();
    if (!quiet) s.out(formatReport('wrote', t2 - t1, offset, count, count, 1, machine));
    return 0;
  },
};

export const writeCommands: Command[] = [write, writev];
