import { existsSync } from 'node:fs';
import { dieBySignal, ElfError, LinuxProcess, formatIr, generateSource, type IrBlock } from '@tsemu/linux-user';
import { logItemsHelp, parseLogItems } from './log-items.js';

const USAGE = `usage: tsemu-arm [options] program [arguments...]
Linux ARM (armhf) user-mode emulator, like qemu-arm.

Options:
  -L path          prefix for absolute guest paths (sysroot)
  -E var=value     set an environment variable for the guest
  -U var           unset an environment variable for the guest
  -0 argv0         use argv0 as the guest's argv[0] (busybox picks its applet from it)
  -strace          log system calls
  -cpu model       accepted for compatibility (cortex-a15 class core)
  -d item[,...]    debug output: stats (counters on exit), unimp (undefined instructions),
                   op (optimised IR of each TB), js (generated JavaScript of each TB),
                   strace (as -strace); -d help lists them
  -interp          run the IR interpreter instead of compiled JavaScript
  -jit             compile every TB to JavaScript before its first run (no interpreter tier)
  -h               this help
`;

function main(argv: string[]): number {
  const env = new Map(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  let argv0: string | undefined;
  let sysroot = process.env.QEMU_LD_PREFIX ?? '', strace = false, stats = false, interpret = false, jit = false, unimp = false, dumpOp = false, dumpJs = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) break;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`option ${a} needs an argument`);
      return v;
    };
    switch (a) {
      case '-L': sysroot = val(); break;
      case '-E': { const kv = val(); const eq = kv.indexOf('='); env.set(eq < 0 ? kv : kv.slice(0, eq), eq < 0 ? '' : kv.slice(eq + 1)); break; }
      case '-U': env.delete(val()); break;
      case '-strace': strace = true; break;
      case '-cpu': val(); break;
      case '-0': argv0 = val(); break;
      case '-d': {
        const d = parseLogItems(val());
        if (d.list) { process.stdout.write(logItemsHelp()); return 1; } // as qemu-arm: the list, status 1
        for (const item of d.ignored) process.stderr.write(`tsemu-arm: -d ${item} is not supported, ignored\n`);
        stats ||= d.items.has('stats'); unimp ||= d.items.has('unimp'); dumpOp ||= d.items.has('op'); dumpJs ||= d.items.has('js');
        strace ||= d.items.has('strace');
        break;
      }
      case '-interp': interpret = true; break;
      case '-jit': jit = true; break;
      case '-h': case '-help': case '--help': process.stdout.write(USAGE); return 0;
      case '--': i++; break;
      default: throw new UsageError(`unknown option '${a}'`);
    }
    if (a === '--') break;
  }
  const prog = argv[i];
  if (prog === undefined) throw new UsageError('no program given');
  if (!existsSync(prog)) {
    process.stderr.write(`tsemu-arm: Error while loading ${prog}: No such file or directory\n`);
    return 1;
  }
  const proc = new LinuxProcess(prog, {
    argv: argv0 === undefined ? argv.slice(i) : [argv0, ...argv.slice(i + 1)], env: [...env].map(([k, v]) => `${k}=${v}`), sysroot, strace, interpret, logUnimp: unimp, ...(jit && { hotThreshold: 0 }),
    // Guest instructions are counted only for -d stats (the count costs 3-5% of a run).
    countInsns: stats,
    onTranslate: dumpOp || dumpJs ? (pc: number, flags: number, ir: IrBlock) => {
      process.stderr.write(`TB 0x${(pc >>> 0).toString(16)} flags ${flags}\n`);
      if (dumpOp) process.stderr.write(formatIr(ir) + '\n');
      // The source as compiled inside the TB cache: linked exits and the indirect-exit cache included.
      if (dumpJs) process.stderr.write(generateSource(ir, false, true, proc.cpu.lookupKeySource(), stats) + '\n');
    } : undefined,
  });
  const t0 = process.hrtime.bigint(), cpu0 = process.cpuUsage();
  const exit = proc.run();
  if (stats) {
    const s = proc.stats(), secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(cpu0), cpuSecs = (c.user + c.system) / 1e6;
    process.stderr.write(`tsemu-arm: ${s.insns} guest instructions, ${s.tbs} TBs translated (${s.compiled} hot, compiled to JS, ${s.hinted} of them through an indirect branch, ${s.stopped} ending at a loop's own TB, ${s.colded} leaving out code not reached before), ${s.invalidated} invalidated, ` +
      `${secs.toFixed(3)} s wall, ${cpuSecs.toFixed(3)} s CPU (all threads), ${(s.insns / secs / 1e6).toFixed(1)} MIPS\n`);
  }
  // Die by the same signal when we can, so the parent sees what qemu-arm's parent would.
  if (exit.signal) dieBySignal(exit.signal);
  return exit.status;
}

class UsageError extends Error {}

try {
  // process.exit rather than exitCode: Node then leaves the isolate to the
  // kernel instead of tearing its heap down (~2% of a static hello's
  // instructions). Nothing is left to flush: guest writes are writeSync, and
  // process.stderr is synchronous for files, pipes and terminals on Linux.
  process.exit(main(process.argv.slice(2)));
} catch (e) {
  if (e instanceof UsageError) {
    process.stderr.write(`tsemu-arm: ${e.message}\n${USAGE}`);
    process.exitCode = 1;
  } else if (e instanceof ElfError) {
    process.stderr.write(`tsemu-arm: ${e.message}\n`);
    process.exitCode = 1;
  } else throw e;
}
