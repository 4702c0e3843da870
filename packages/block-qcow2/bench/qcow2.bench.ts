// tsemu vs QEMU on qcow2 images: the cases, same command lines for both tools.
// Imported by path: block-qcow2 does not (yet) list @tsemu/bench-harness as a devDependency.
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { defineBench, makeTestFile, seededOffsets, workspaceBin, type ChunkKind } from '../../bench-harness/src/index.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
// Per 4 MiB: 2 MiB data, 1 MiB written zeros, 1 MiB hole: half of it empty.
const LAYOUT: readonly ChunkKind[] = ['data', 'data', 'zero', 'hole'];
const RAW = 'src.raw'; // 1 GiB, half data
const QCOW2 = 'src.qcow2'; // the same content as qcow2 (made by qemu-img)
const SMALL_RAW = 'small.raw'; // 256 MiB, half data: convert -c (zlib is the cost, not the format)
const FULL = 'full.qcow2'; // 256 MiB, every cluster allocated with 0x5a
const EMPTY = 'empty.qcow2'; // recreated before each random-write run
const OUT = 'out';
const RANDOM_OPS = 32768;
const FULL_SIZE = 256 * MiB;
const EMPTY_SIZE = 1 * GiB;

const tsemuImg = workspaceBin('tsemu-img');
const tsemuIo = workspaceBin('tsemu-io');

const convert = (tool: string, args: readonly string[]): string[] => [tool, 'convert', ...args];
/** `-t writeback` as in the raw bench: measure the I/O path, not the disk's flush latency per write. */
const io = (tool: string, image: string, commands: readonly string[]): string[] =>
  [tool, '-f', 'qcow2', '-t', 'writeback', image, ...commands.flatMap((c) => ['-c', c])];

const randReads = seededOffsets(RANDOM_OPS, FULL_SIZE, 4096, 3).map((off) => `read -P 0x5a ${off} 4k`);
const randWriteOffsets = seededOffsets(RANDOM_OPS, EMPTY_SIZE, 4096, 4);
const randWrites = [...randWriteOffsets.map((off) => `write -P 0xa5 ${off} 4k`), 'flush'];
// qemu-io checks these against the pattern and exits 1 on a mismatch.
const checkedReads = randWriteOffsets.slice(0, 64).map((off) => `read -P 0xa5 ${off} 4k`);

const removeOut = (ctx: { dir: string }) => rm(join(ctx.dir, OUT), { force: true });
const compareWith = (src: string, fmt: string, outFmt: string): string[] =>
  ['qemu-img', 'compare', '-q', '-f', fmt, '-F', outFmt, src, OUT];

export default defineBench({
  name: 'qcow2',
  setup: async (dir) => {
    await makeTestFile(join(dir, RAW), { size: GiB, layout: (i) => LAYOUT[i % LAYOUT.length]! });
    await makeTestFile(join(dir, SMALL_RAW), { size: 256 * MiB, layout: (i) => LAYOUT[i % LAYOUT.length]! });
    await makeTestFile(join(dir, 'full.raw'), { size: FULL_SIZE, pattern: 0x5a, layout: () => 'data' });
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', RAW, QCOW2], { cwd: dir });
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', 'full.raw', FULL], { cwd: dir });
  },
  cases: [
    { label: 'start-up (--version)', startup: true, goal: null, tsemu: [tsemuImg, '--version'], qemu: ['qemu-img', '--version'] },
    {
      label: 'convert qcow2->raw 1 GiB (512 MiB data)',
      tsemu: convert(tsemuImg, ['-f', 'qcow2', '-O', 'raw', QCOW2, OUT]),
      qemu: convert('qemu-img', ['-f', 'qcow2', '-O', 'raw', QCOW2, OUT]),
      prepare: removeOut,
      verify: compareWith(QCOW2, 'qcow2', 'raw'),
    },
    {
      label: 'convert raw->qcow2 1 GiB (512 MiB data)',
      tsemu: convert(tsemuImg, ['-f', 'raw', '-O', 'qcow2', RAW, OUT]),
      qemu: convert('qemu-img', ['-f', 'raw', '-O', 'qcow2', RAW, OUT]),
      prepare: removeOut,
      verify: ['qemu-img', 'check', '-q', OUT],
    },
    {
      label: 'convert -c raw->qcow2 256 MiB (128 MiB data)',
      tsemu: convert(tsemuImg, ['-c', '-f', 'raw', '-O', 'qcow2', SMALL_RAW, OUT]),
      qemu: convert('qemu-img', ['-c', '-f', 'raw', '-O', 'qcow2', SMALL_RAW, OUT]),
      prepare: removeOut,
      verify: ['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'qcow2', SMALL_RAW, OUT],
    },
    {
      label: `rand write ${RANDOM_OPS} x 4 KiB, empty qcow2 (allocating)`,
      tsemu: io(tsemuIo, EMPTY, randWrites),
      qemu: io('qemu-io', EMPTY, randWrites),
      prepare: async (ctx) => {
        await rm(join(ctx.dir, EMPTY), { force: true });
        execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', EMPTY, String(EMPTY_SIZE)], { cwd: ctx.dir });
      },
      verify: async (ctx) => {
        execFileSync('qemu-img', ['check', '-q', EMPTY], { cwd: ctx.dir });
        execFileSync('qemu-io', io('qemu-io', EMPTY, checkedReads).slice(1), { cwd: ctx.dir, stdio: 'ignore' });
      },
    },
    { label: `rand read ${RANDOM_OPS} x 4 KiB, full qcow2`, tsemu: io(tsemuIo, FULL, randReads), qemu: io('qemu-io', FULL, randReads) },
  ],
});
