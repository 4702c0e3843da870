// qemu-nbd vs tsemu-nbd (issue 4), both serving the same images on unix
// sockets with -e 4 (so both advertise multi-conn and nbdcopy opens 4
// connections): nbdcopy of 1 GiB to null (read path) and from a file into an
// export (write path), for a raw and a qcow2 export each, and 4 KiB reads at
// queue depth 16 (qemu-img bench). Write targets are separate per side, so
// neither server sees metadata the other changed behind its back.
// Imported by path: qemu-nbd does not list @tsemu/bench-harness as a devDependency.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  defineBench, makeTestFile, type BenchCase, type BenchContext, type ChunkKind, type Side,
} from '../../bench-harness/src/index.js';

const GiB = 1024 * 1024 * 1024;
const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const TSEMU_NBD = join(ROOT, 'apps/tsemu-nbd/bin/tsemu-nbd.js');
// Per 4 MiB: 3 MiB data, 1 MiB hole.
const LAYOUT: readonly ChunkKind[] = ['data', 'data', 'data', 'hole'];

type Format = 'raw' | 'qcow2';
const servers = new Map<string, ChildProcess[]>();

/** Starts qemu-nbd on `images.q` and tsemu-nbd on `images.t` (once per case); sockets q-<tag>.sock and t-<tag>.sock. */
async function startServers(ctx: BenchContext, fmt: Format, images: { q: string; t: string }, tag: string): Promise<void> {
  if (servers.has(tag)) return;
  const q = join(ctx.dir, `q-${tag}.sock`);
  const t = join(ctx.dir, `t-${tag}.sock`);
  const procs = [
    spawn('qemu-nbd', ['-f', fmt, '-t', '-e', '4', '-k', q, join(ctx.dir, images.q)], { stdio: 'ignore' }),
    spawn(process.execPath, [TSEMU_NBD, '-f', fmt, '-t', '-e', '4', '-k', t, join(ctx.dir, images.t)], { stdio: 'ignore' }),
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

/** export -> null: the read path (structured sparse reads, block status for the holes). */
function readCase(fmt: Format): BenchCase {
  const tag = `read-${fmt}`;
  const image = `src.${fmt}`;
  return {
    label: `nbdcopy 1 GiB ${fmt} export -> null:`,
    prepare: (ctx) => startServers(ctx, fmt, { q: image, t: image }, tag),
    tsemu: (ctx) => runOk('nbdcopy', [uri(ctx.dir, 't', tag), 'null:']),
    qemu: (ctx) => runOk('nbdcopy', [uri(ctx.dir, 'q', tag), 'null:']),
    teardown: () => stopServers(tag),
  };
}

/** file -> export: the write path (WRITE payloads, WRITE_ZEROES for the holes, a final FLUSH). */
function writeCase(fmt: Format): BenchCase {
  const tag = `write-${fmt}`;
  const target = (side: Side): string => `target-${side === 'tsemu' ? 't' : 'q'}.${fmt}`;
  return {
    label: `nbdcopy 1 GiB file -> ${fmt} export`,
    prepare: (ctx) => startServers(ctx, fmt, { q: target('qemu'), t: target('tsemu') }, tag),
    tsemu: (ctx) => runOk('nbdcopy', ['--flush', join(ctx.dir, 'src.raw'), uri(ctx.dir, 't', tag)]),
    qemu: (ctx) => runOk('nbdcopy', ['--flush', join(ctx.dir, 'src.raw'), uri(ctx.dir, 'q', tag)]),
    // -U: the server still holds the image.
    verify: (ctx, side) => runOk('qemu-img', ['compare', '-q', '-U', '-f', 'raw', '-F', fmt, join(ctx.dir, 'src.raw'), join(ctx.dir, target(side))]),
    teardown: () => stopServers(tag),
  };
}

/** 4 KiB reads at queue depth 16 over one connection: per-request overhead. */
function qd16Case(fmt: Format): BenchCase {
  const tag = `qd16-${fmt}`;
  const image = `src.${fmt}`;
  const args = (side: 'q' | 't', dir: string): string[] => ['bench', '-f', 'raw', '-d', '16', '-c', '65536', '-s', '4k', '-S', '1M', uri(dir, side, tag)];
  return {
    label: `4 KiB reads, queue depth 16, ${fmt} export (qemu-img bench, 64k ops)`,
    prepare: (ctx) => startServers(ctx, fmt, { q: image, t: image }, tag),
    tsemu: (ctx) => runOk('qemu-img', args('t', ctx.dir)),
    qemu: (ctx) => runOk('qemu-img', args('q', ctx.dir)),
    teardown: () => stopServers(tag),
  };
}

export default defineBench({
  name: 'qemu-nbd serving',
  goal: 1.1,
  setup: async (dir) => {
    const src = join(dir, 'src.raw');
    await makeTestFile(src, { size: GiB, layout: (i) => LAYOUT[i % LAYOUT.length]! });
    await runOk('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', src, join(dir, 'src.qcow2')]);
    for (const side of ['t', 'q']) {
      await copyFile(src, join(dir, `target-${side}.raw`));
      await copyFile(join(dir, 'src.qcow2'), join(dir, `target-${side}.qcow2`));
    }
  },
  cases: [readCase('raw'), readCase('qcow2'), writeCase('raw'), writeCase('qcow2'), qd16Case('raw'), qd16Case('qcow2')],
});

function runOk(cmd: string, args: string[]): Promise<void> {
  return new Promise((done, fail) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d));
    p.once('error', fail);
    p.once('exit', (code) => (code === 0 ? done() : fail(new Error(`${cmd} exited ${code}: ${err}`))));
  });
}
