// qemu-io vs tsemu-io on a raw image: the same command lines for both tools.
// Imported by path: qemu-io does not (yet) list @tsemu/bench-harness as a devDependency.
import { open, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { defineBench, makeTestFile, seededOffsets, workspaceBin, type BenchContext } from '../../bench-harness/src/index.js';

const MiB = 1024 * 1024;
const IMAGE = 'disk.raw';
const IMAGE_SIZE = 256 * MiB;
const SEQ_WRITES = 256; // x 1 MiB = the whole image
// ~0.7-1.4 s of qemu-io work each, so tsemu's start-up is not the whole story;
// 32768 `-c` pairs also keep argv under ARG_MAX (2 MiB).
const RANDOM_OPS = 32768;
const CHECKED_WRITES = 64; // of the random writes, reset before and checked after each run

const tsemuIo = workspaceBin('tsemu-io');

/**
 * One invocation running `commands` in order. `-t writeback` so the random
 * write figure measures the I/O path rather than the disk's flush latency,
 * which qemu-io's default (writethrough) adds to every write on both sides.
 */
const io = (tool: string, commands: readonly string[]): string[] =>
  [tool, '-f', 'raw', '-t', 'writeback', IMAGE, ...commands.flatMap((c) => ['-c', c])];
/** tsemu-io with the file driver's RWF_NOWAIT fast path off: every request through libuv's thread pool. */
const ioThreadPool = (commands: readonly string[]): string[] =>
  [tsemuIo, '-t', 'writeback', '--image-opts', `driver=raw,file.driver=file,file.filename=${IMAGE},file.x-no-nowait=on`,
    ...commands.flatMap((c) => ['-c', c])];
/** tsemu-io with synchronous small writes off (what a server gets): every ext4 write through the thread pool. */
const ioAsyncWrites = (commands: readonly string[]): string[] =>
  [tsemuIo, '-t', 'writeback', '--image-opts', `driver=raw,file.driver=file,file.filename=${IMAGE},file.x-sync-writes=off`,
    ...commands.flatMap((c) => ['-c', c])];

// Writes end with an explicit `flush` so the figure includes making them stable
// (both tools also flush at close, which then has nothing left to do).
const seqWrites = [...Array.from({ length: SEQ_WRITES }, (_, i) => `write -P 0x5a ${i * MiB} 1M`), 'flush'];
// `-P`: qemu-io checks every read against the pattern and exits 1 on a mismatch.
const randReads = seededOffsets(RANDOM_OPS, IMAGE_SIZE, 4096, 1).map((off) => `read -P 0x5a ${off} 4k`);
const randWriteOffsets = seededOffsets(RANDOM_OPS, IMAGE_SIZE, 4096, 2);
const randWrites = [...randWriteOffsets.map((off) => `write -P 0xa5 ${off} 4k`), 'flush'];

/** Zeroes (reset) or checks (expect 0xa5) the first CHECKED_WRITES random-write blocks. */
async function randWriteBlocks(ctx: BenchContext, mode: 'reset' | 'check'): Promise<void> {
  const fh = await open(join(ctx.dir, IMAGE), 'r+');
  try {
    const block = new Uint8Array(4096);
    for (const off of randWriteOffsets.slice(0, CHECKED_WRITES)) {
      if (mode === 'reset') {
        block.fill(0);
        await fh.write(block, 0, block.length, off);
      } else {
        await fh.read(block, 0, block.length, off);
        if (!block.every((b) => b === 0xa5)) throw new Error(`block at ${off} does not hold the written pattern`);
      }
    }
  } finally {
    await fh.close();
  }
}

export default defineBench({
  name: 'qemu-io raw',
  setup: (dir) => makeTestFile(join(dir, IMAGE), { size: IMAGE_SIZE, pattern: 0x5a, layout: () => 'data' }),
  cases: [
    { label: 'start-up (--version)', startup: true, goal: null, tsemu: [tsemuIo, '--version'], qemu: ['qemu-io', '--version'] },
    // Reads first, while the image still holds setup's 0x5a everywhere.
    { label: `rand read ${RANDOM_OPS} x 4 KiB`, tsemu: io(tsemuIo, randReads), qemu: io('qemu-io', randReads) },
    // The same reads with tsemu's page-cache fast path off: what the thread-pool round trip alone costs.
    { label: `rand read ${RANDOM_OPS} x 4 KiB, tsemu x-no-nowait`, tsemu: ioThreadPool(randReads), qemu: io('qemu-io', randReads), goal: null },
    {
      label: `seq write ${SEQ_WRITES} x 1 MiB`,
      tsemu: io(tsemuIo, seqWrites),
      qemu: io('qemu-io', seqWrites),
      // Back to a zeroed (sparse) image so the check below sees this run's writes, not the last run's.
      prepare: async (ctx) => {
        await truncate(join(ctx.dir, IMAGE), 0);
        await truncate(join(ctx.dir, IMAGE), IMAGE_SIZE);
      },
      verify: ['qemu-io', '-f', 'raw', '-c', `read -P 0x5a 0 ${IMAGE_SIZE}`, IMAGE],
    },
    {
      label: `rand write ${RANDOM_OPS} x 4 KiB`,
      tsemu: io(tsemuIo, randWrites),
      qemu: io('qemu-io', randWrites),
      prepare: (ctx) => randWriteBlocks(ctx, 'reset'),
      verify: (ctx) => randWriteBlocks(ctx, 'check'),
    },
    {
      label: `rand write ${RANDOM_OPS} x 4 KiB, tsemu x-sync-writes=off`,
      tsemu: ioAsyncWrites(randWrites),
      qemu: io('qemu-io', randWrites),
      goal: null,
      prepare: (ctx) => randWriteBlocks(ctx, 'reset'),
      verify: (ctx) => randWriteBlocks(ctx, 'check'),
    },
  ],
});
