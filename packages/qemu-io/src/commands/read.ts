// read and readv: synchronous reads into a reused buffer, with -P checks.
import { formatReport, hexDump } from '../format.js';
import { EINVAL, type Command, type Status } from '../session.js';
import { errnoText } from '../errors.js';
import { countArg, iovLengths, now, patternArg, sectorAligned, splitIov } from './args.js';

const read: Command = {
  name: 'read', alt: 'r', argmin: 2, argmax: -1,
  async run(s, argv) {
    const o = s.getopt(argv, 'bCl:pP:qs:v'); // qemu-io 7.2's; its usage line still shows -a
    if (!o.ok) return EINVAL;
    let pattern: number | undefined;
    let patternOffset = 0;
    let patternCount: number | undefined;
    let lflag = false, sflag = false, machine = false, quiet = false, verbose = false, vmstate = false;
    for (const { key, value } of o.options) {
      if (key === 'b') vmstate = true;
      else if (key === 'C') machine = true;
      else if (key === 'q') quiet = true;
      else if (key === 'v') verbose = true;
      else if (key === 'P') {
        pattern = patternArg(s, value!);
        if (pattern === undefined) return EINVAL;
      } else if (key === 'l' || key === 's') {
        const n = s.num(value!);
        if (n === undefined) return EINVAL;
        if (key === 'l') [lflag, patternCount] = [true, n];
        else [sflag, patternOffset] = [true, n];
      }
    }
    if (o.operands.length !== 2) return s.usage('read');
    const offset = s.num(o.operands[0]);
    if (offset === undefined) return EINVAL;
    const count = countArg(s, o.operands[1]);
    if (count === undefined) return EINVAL;
    if (pattern === undefined && (lflag || sflag)) return s.usage('read');
    if (!lflag) patternCount = count - patternOffset;
    if (patternCount! < 0 || patternCount! + patternOffset > count) {
      s.out('pattern verification range exceeds end of read data\n');
      return EINVAL;
    }
    if (vmstate && !sectorAligned(s, offset, count)) return EINVAL;
    const buf = s.buffers.scratch(count);
    const t1 = now();
    try {
      if (vmstate) await s.blk!.loadVmState(offset, buf);
      else await s.blk!.read(offset, buf);
    } catch (e) {
      s.out(`read failed: ${errnoText(e)}\n`);
      return EINVAL;
    }
    const t2 = now();
    let status: Status = 0;
    if (pattern !== undefined && !s.buffers.matches(buf, patternOffset, patternCount!, pattern)) {
      s.out(`Pattern verification failed at offset ${offset + patternOffset}, ${patternCount} bytes\n`);
      status = EINVAL;
    }
    if (quiet) return status;
    if (verbose) s.out(hexDump(buf, offset));
    s.out(formatReport('read', t2 - t1, offset, count, count, 1, machine));
    return status;
  },
};

const readv: Command = {
  name: 'readv', argmin: 2, argmax: -1,
  async run(s, argv) {
    const o = s.getopt(argv, 'CP:qv');
    if (!o.ok) return EINVAL;
    let pattern: number | undefined;
    let machine = false, quiet = false, verbose = false;
    for (const { key, value } of o.options) {
      if (key === 'C') machine = true;
      else if (key === 'q') quiet = true;
      else if (key === 'v') verbose = true;
      else if (key === 'P') {
        pattern = patternArg(s, value!);
        if (pattern === undefined) return EINVAL;
      }
    }
    if (o.operands.length < 2) return s.usage('readv');
    const offset = s.num(o.operands[0]);
    if (offset === undefined) return EINVAL;
    const lens = iovLengths(s, o.operands.slice(1));
    if (!lens) return EINVAL;
    const count = lens.reduce((a, b) => a + b, 0);
    const buf = s.buffers.scratch(count);
    const t1 = now();
    try {
      await s.blk!.readv(offset, splitIov(buf, lens));
    } catch (e) {
      s.out(`readv failed: ${errnoText(e)}\n`);
      return EINVAL;
    }
    const t2 = now();
    let status: Status = 0;
    if (pattern !== undefined && !s.buffers.matches(buf, 0, count, pattern)) {
      s.out(`Pattern verification failed at offset ${offset}, ${count} bytes\n`);
      status = EINVAL;
    }
    if (quiet) return status;
    if (verbose) s.out(hexDump(buf, offset));
    s.out(formatReport('read', t2 - t1, offset, count, count, 1, machine));
    return status;
  },
};

export const readCommands: Command[] = [read, readv];
