// qemu-img vs tsemu-img: `convert -f raw -O raw` of a 1 GiB sparse-ish image.
// Imported by path: qemu-img does not (yet) list @tsemu/bench-harness as a devDependency.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { defineBench, makeTestFile, workspaceBin, type ChunkKind } from '../../bench-harness/src/index.js';

const GiB = 1024 * 1024 * 1024;
const SOURCE = 'src.raw';
const TARGET = 'dst.raw';
// Per 4 MiB: 2 MiB data, 1 MiB written zeros (zero detection), 1 MiB hole (block status).
const LAYOUT: readonly ChunkKind[] = ['data', 'data', 'zero', 'hole'];

const tsemuImg = workspaceBin('tsemu-img');
const convert = (tool: string): string[] => [tool, 'convert', '-f', 'raw', '-O', 'raw', SOURCE, TARGET];

export default defineBench({
  name: 'qemu-img convert',
  setup: (dir) => makeTestFile(join(dir, SOURCE), { size: GiB, layout: (i) => LAYOUT[i % LAYOUT.length]! }),
  cases: [
    { label: 'start-up (--version)', startup: true, goal: null, tsemu: [tsemuImg, '--version'], qemu: ['qemu-img', '--version'] },
    {
      label: 'convert raw->raw 1 GiB (512 MiB data)',
      tsemu: convert(tsemuImg),
      qemu: convert('qemu-img'),
      // Each run creates the target from nothing, as a user's first convert would.
      prepare: (ctx) => rm(join(ctx.dir, TARGET), { force: true }),
      verify: ['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', SOURCE, TARGET],
    },
  ],
});
