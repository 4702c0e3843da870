// qemu-nbd vs tsemu-nbd, both serving the same raw images on unix sockets:
// nbdcopy of 1 GiB to null (read path) and from a file into an export
// (write path), and 4 KiB reads at queue depth 16 (qemu-img bench).
// Imported by path: qemu-nbd does not list @tsemu/bench-harness as a devDependency.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineBench, makeTestFile, type BenchContext, type ChunkKind } from '../../bench-harness/src/index.js';

const GiB = 1024 * 1024 * 1024;
const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const TSEMU_NBD = join(ROOT, 'apps/tsemu-nbd/bin/tsemu-nbd.js');
// Per 4 MiB: 3 MiB data, 1 MiB hole.
const LAYOUT: readonly ChunkKind[] = ['data', 'data', 'data', 'hole'];

const servers = new Map<string, ChildProcess[]>();

/** Starts qemu-nbd and tsemu-nbd on `image` (once per case); sockets q-<tag>.sock and t-<tag>.sock. */
async function startServers(ctx: BenchContext, image: string, tag: string): Promise<void> {
  if (servers.has(tag)) return;
  const q = join(ctx.dir, `q-${tag}.sock`);
  const t = join(ctx.dir, `t-${tag}.sock`);
  const procs = [
    spawn('qemu-nbd', ['-f', 'raw', '-t', '-e', '4', '-k', q, image], { stdio: 'ignore' }),
    spawn(process.execPath, [TSEMU_NBD, '-f', 'raw', '-t', '-e', '4', '-k', t, image], { stdio: 'ignore' }),
  ];
  servers.set(tag, procs);
  const end = Date.now() + 15_000;
  while (!(existsSync(q) && existsSync(t))) {
    if (Date.now() > end) throw new Error('servers did not start');
    await new Promise((r) => setTimeout(r, 25));
  }
}

function stopServers(tag: string): void {
  for (const p of servers.get(tag) ?? []) p.kill('SIGKILL');
  servers.delete(tag);
}

const uri = (dir: string, side: 'q' | 't', tag: string): string => `nbd+unix:///?socket=${join(dir, `${side}-${tag}.sock`)}`;

export default defineBench({
  name: 'qemu-nbd serving',
  goal: 1.1,
  setup: async (dir) => {
    await makeTestFile(join(dir, 'src.raw'), { size: GiB, layout: (i) => LAYOUT[i % LAYOUT.length]! });
    await copyFile(join(dir, 'src.raw'), join(dir, 'target.raw'));
  },
  cases: [
    {
      label: 'nbdcopy 1 GiB export -> null:',
      prepare: (ctx) => startServers(ctx, join(ctx.dir, 'src.raw'), 'read'),
      tsemu: (ctx) => runOk('nbdcopy', [uri(ctx.dir, 't', 'read'), 'null:']),
      qemu: (ctx) => runOk('nbdcopy', [uri(ctx.dir, 'q', 'read'), 'null:']),
      teardown: () => stopServers('read'),
    },
    {
      label: 'nbdcopy 1 GiB file -> export (write path)',
      prepare: (ctx) => startServers(ctx, join(ctx.dir, 'target.raw'), 'write'),
      tsemu: (ctx) => runOk('nbdcopy', ['--flush', join(ctx.dir, 'src.raw'), uri(ctx.dir, 't', 'write')]),
      qemu: (ctx) => runOk('nbdcopy', ['--flush', join(ctx.dir, 'src.raw'), uri(ctx.dir, 'q', 'write')]),
      verify: ['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', 'src.raw', 'target.raw'],
      teardown: () => stopServers('write'),
    },
    {
      label: '4 KiB reads, queue depth 16 (qemu-img bench, 64k ops)',
      prepare: (ctx) => startServers(ctx, join(ctx.dir, 'src.raw'), 'qd16'),
      tsemu: (ctx) => runOk('qemu-img', ['bench', '-f', 'raw', '-d', '16', '-c', '65536', '-s', '4k', '-S', '1M', uri(ctx.dir, 't', 'qd16')]),
      qemu: (ctx) => runOk('qemu-img', ['bench', '-f', 'raw', '-d', '16', '-c', '65536', '-s', '4k', '-S', '1M', uri(ctx.dir, 'q', 'qd16')]),
      teardown: () => stopServers('qd16'),
    },
  ],
});

function runOk(cmd: string, args: string[]): Promise<void> {
  return new Promise((done, fail) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d));
    p.once('exit', (code) => (code === 0 ? done() : fail(new Error(`${cmd} exited ${code}: ${err}`))));
  });
}
