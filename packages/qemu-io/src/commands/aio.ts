// aio_read, aio_write, aio_flush: requests start at once and run concurrently;
// their reports print when drained (aio_flush, close, exit) or, interactively,
// as they complete. Like qemu-io, a submitted request counts as a success.
import { formatReport, hexDump } from '../format.js';
import { EINVAL, type Command, type Session } from '../session.js';
import { errnoText } from '../errors.js';
import { iovLengths, now, patternArg, splitIov } from './args.js';


interface Outcome {
  error?: unknown;
  ns: number;
}

/**
 * Starts `op`, timing it, and registers what to print on completion.
 * `untimed`: qemu-io 7.2 never takes aio_write -z's start time, so its report
 * shows the monotonic clock itself (the machine's uptime); so does ours.
 */
function submit(s: Session, op: () => Promise<void>, print: (r: Outcome) => void, untimed = false): void {
  // The monotonic clock is process.hrtime's (CLOCK_MONOTONIC); performance.now() counts from this process's start.
  const t1 = untimed ? now() - Number(process.hrtime.bigint()) : now();
  let outcome: Outcome = { ns: 0 };
  const done = op().then(
    () => void (outcome = { ns: now() - t1 }),
    (error: unknown) => void (outcome = { error, ns: now() - t1 }),
  );
  s.addAio({ done, finish: () => print(outcome) });
}

const aioRead: Command = {
  name: 'aio_read', argmin: 2, argmax: -1,
  run(s, argv) {
    const o = s.getopt(argv, 'CP:iqv');
    if (!o.ok) return EINVAL;
    let pattern: number | undefined;
    let machine = false, invalid = false, quiet = false, verbose = false;
    for (const { key, value } of o.options) {
      if (key === 'C') machine = true;
      else if (key === 'i') invalid = true;
      else if (key === 'q') quiet = true;
      else if (key === 'v') verbose = true;
      else if (key === 'P') {
        pattern = patternArg(s, value!);
        if (pattern === undefined) return EINVAL;
      }
    }
    if (o.operands.length < 2) return s.usage('aio_read');
    const offset = s.num(o.operands[0]);
    if (offset === undefined) return EINVAL;
    const lens = iovLengths(s, o.operands.slice(1));
    if (!lens) return EINVAL;
    if (invalid) {
      s.out('injecting invalid read request\n');
      return 0;
    }
    const count = lens.reduce((a, b) => a + b, 0);
    const buf = new Uint8Array(count); // its own buffer: other requests run meanwhile
    const blk = s.blk!;
    submit(s, () => blk.readv(offset, splitIov(buf, lens)), ({ error, ns }) => {
      if (error !== undefined) return s.out(`readv failed: ${errnoText(error)}\n`);
      if (pattern !== undefined && !s.buffers.matches(buf, 0, count, pattern)) {
        s.out(`Pattern verification failed at offset ${offset}, ${count} bytes\n`);
      }
      if (quiet) return;
      if (verbose) s.out(hexDump(buf, offset));
      s.out(formatReport('read', ns, offset, count, count, 1, machine));
    });
    return 0;
  },
};

const aioWrite: Command = {
  name: 'aio_write', argmin: 2, argmax: -1, write: true,
  run(s, argv) {
    const o = s.getopt(argv, 'CfiquP:z');
    if (!o.ok) return EINVAL;
    let pattern = 0xcd;
    let machine = false, fua = false, invalid = false, quiet = false, unmap = false, zero = false;
    for (const { key, value } of o.options) {
      if (key === 'C') machine = true;
      else if (key === 'f') fua = true;
      else if (key === 'i') invalid = true;
      else if (key === 'q') quiet = true;
      else if (key === 'u') unmap = true;
      else if (key === 'z') zero = true;
      else if (key === 'P') {
        const p = patternArg(s, value!);
        if (p === undefined) return EINVAL;
        pattern = p;
      }
    }
    if (o.operands.length < 2) return s.usage('aio_write');
    if (zero && o.operands.length !== 2) {
      s.out('-z supports only a single length parameter\n');
      return EINVAL;
    }
    if (unmap && !zero) {
      s.out('-u requires -z to be specified\n');
      return EINVAL;
    }
    const offset = s.num(o.operands[0]);
    if (offset === undefined) return EINVAL;
    const lens = iovLengths(s, o.operands.slice(1));
    if (!lens) return EINVAL;
    if (invalid) {
      s.out('injecting invalid write request\n');
      return 0;
    }
    const count = lens.reduce((a, b) => a + b, 0);
    const blk = s.blk!;
    const flags = fua ? { fua } : undefined;
    const op = zero
      ? () => blk.writeZeroes(offset, count, { fua, mayUnmap: unmap })
      : () => blk.writev(offset, splitIov(s.buffers.pattern(pattern, count), lens), flags);
    submit(s, op, ({ error, ns }) => {
      if (error !== undefined) return s.out(`aio_write failed: ${errnoText(error)}\n`);
      if (!quiet) s.out(formatReport('wrote', ns, offset, count, count, 1, machine));
    }, zero);
    return 0;
  },
};

const aioFlush: Command = {
  name: 'aio_flush', argmin: 0, argmax: 0,
  async run(s) {
    await s.drainAio();
    return 0;
  },
};

export const aioCommands: Command[] = [aioRead, aioWrite, aioFlush];
