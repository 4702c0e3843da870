// tsemu-arm vs qemu-arm-static on static armhf programs: a CPU-bound kernel
// (sieve, CRC32, SHA-256, qsort, matrix multiply), compiled -mthumb and -marm,
// and busybox gzip / bzip2 / awk. `pnpm bench armhf`. Issue 6 compares CPU
// time (user + sys over all threads: V8 compiles on other threads), so that is
// the metric; the table shows the wall-time ratio beside it, and guest MIPS
// from tsemu's own instruction counter (`-d stats`) for both sides. The timed
// runs are plain runs, as users run tsemu-arm (counting costs ~3%, and
// qemu-arm counts nothing either); the count comes from one extra run.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineBench, workspaceRoot, type ArgvCommand } from '../../bench-harness/src/index.js';

const root = workspaceRoot();
// Run as users run it: the bin itself, so its shebang (`env -S node
// --no-concurrent-recompilation`, see bin/tsemu-arm.js) picks node's flags,
// with the node running this bench first on the child's PATH.
const tsemuBin = join(root, 'apps/tsemu-arm/bin/tsemu-arm.js');
const tsemuPath = { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
const tsemuArm = (...args: string[]): ArgvCommand => ({ argv: [tsemuBin, ...args], env: tsemuPath });
/**
 * A case's tsemu side running tsemu-arm with `args`, and its work: the guest
 * instructions, from one extra run with `-d stats` (whose last line is
 * `tsemu-arm: N guest instructions, ...`).
 */
const counted = (...args: string[]) => ({
  tsemu: tsemuArm(...args),
  work: {
    unit: 'I', command: tsemuArm('-d', 'stats', ...args),
    count: (stderr: string) => Number(/(\d+) guest instructions/.exec(stderr)?.[1] ?? NaN) || undefined,
  },
});
const kernelSrc = fileURLToPath(new URL('./cpu-kernels.c', import.meta.url));
const busybox = process.env.BUSYBOX_ARMHF ?? '/opt/busybox-armhf/bin/busybox';
const ROUNDS = '40';
const AWK_SUMS = '{ n[$1] += $2 } END { for (k in n) s += n[k]; print s }';

function must(cmd: string, args: string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

// The checksum line the reference prints; each timed run must reproduce it.
let expected = '';
const checkKernel = (ctx: { dir: string }): void => {
  const got = readFileSync(join(ctx.dir, 'out.txt'), 'utf8');
  if (got !== expected) throw new Error(`wrong checksum: ${got.trim()} (expected ${expected.trim()})`);
};

export default defineBench({
  name: 'tsemu-arm armhf programs',
  metric: 'cpu',
  goal: 3,
  setup: (dir) => {
    for (const mode of ['thumb', 'arm']) must('arm-linux-gnueabihf-gcc', ['-static', '-O2', `-m${mode}`, kernelSrc, '-o', join(dir, `kernels-${mode}`)]);
    writeFileSync(join(dir, 'hello.c'), '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n');
    must('arm-linux-gnueabihf-gcc', ['-static', '-O2', join(dir, 'hello.c'), '-o', join(dir, 'hello')]);
    expected = must('qemu-arm-static', [join(dir, 'kernels-thumb'), ROUNDS]);
    if (!existsSync(busybox)) throw new Error(`armhf busybox not found at ${busybox} (set BUSYBOX_ARMHF)`);
    // 8 MiB of text that compresses like real data.
    const words = ['alpha', 'beta', 'gamma', 'delta', 'tsemu', 'qemu', 'arm', 'thumb', 'vector', 'cache'];
    let s = 1, text = '';
    while (text.length < 8 << 20) { s = (s * 1103515245 + 12345) >>> 0; text += `${words[s % 10]} ${s % 1000} ${words[(s >>> 8) % 10]}\n`; }
    writeFileSync(join(dir, 'data.txt'), text);
    writeFileSync(join(dir, 'small.txt'), text.slice(0, 2 << 20));
  },
  cases: [
    { label: 'start-up (static hello)', startup: true, goal: null, tsemu: tsemuArm('hello'), qemu: ['qemu-arm-static', 'hello'] },
    {
      label: `CPU kernels -mthumb (${ROUNDS} rounds)`, ...counted('kernels-thumb', ROUNDS, 'out.txt'),
      qemu: ['qemu-arm-static', 'kernels-thumb', ROUNDS, 'out.txt'], verify: checkKernel,
    },
    {
      label: `CPU kernels -marm (${ROUNDS} rounds)`, ...counted('kernels-arm', ROUNDS, 'out.txt'),
      qemu: ['qemu-arm-static', 'kernels-arm', ROUNDS, 'out.txt'], verify: checkKernel,
    },
    {
      label: 'busybox gzip -6 (8 MiB text)', ...counted(busybox, 'gzip', '-k', '-f', 'data.txt'),
      qemu: ['qemu-arm-static', busybox, 'gzip', '-k', '-f', 'data.txt'],
      prepare: (ctx) => rmSync(join(ctx.dir, 'data.txt.gz'), { force: true }),
      verify: (ctx) => { if (!existsSync(join(ctx.dir, 'data.txt.gz'))) throw new Error('no data.txt.gz'); },
    },
    {
      label: 'busybox bzip2 (2 MiB text)', ...counted(busybox, 'bzip2', '-k', '-f', 'small.txt'),
      qemu: ['qemu-arm-static', busybox, 'bzip2', '-k', '-f', 'small.txt'],
      prepare: (ctx) => rmSync(join(ctx.dir, 'small.txt.bz2'), { force: true }),
      verify: (ctx) => { if (!existsSync(join(ctx.dir, 'small.txt.bz2'))) throw new Error('no small.txt.bz2'); },
    },
    {
      label: 'busybox awk (sums, 2 MiB)', ...counted(busybox, 'awk', AWK_SUMS, 'small.txt'),
      qemu: ['qemu-arm-static', busybox, 'awk', AWK_SUMS, 'small.txt'],
    },
  ],
});
