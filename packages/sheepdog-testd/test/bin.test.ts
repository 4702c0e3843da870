// The tsemu-sheepd bin as its own process (as the benchmark runs it): it
// reports its address over the fork IPC channel, answers 'stats' with its
// request log, serves the driver, and on disconnect flushes its object cache
// to the store before exiting, so a restarted peer still has the data.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openImage } from '@tsemu/block-core';
import { registerSheepdog, newVdi, SD_OP_CREATE_AND_WRITE_OBJ, SD_OP_WRITE_OBJ, SD_OP_FLUSH_VDI } from '@tsemu/block-sheepdog';

registerSheepdog();
const BIN = fileURLToPath(new URL('../bin/tsemu-sheepd.js', import.meta.url));
// Not the test worker's Node flags (fork's default): its `--conditions source` would
// point a built bin (TSEMU_USE_DIST=1) at .ts sources it cannot load.
const FORK = { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] as ('ignore' | 'pipe' | 'ipc')[], execArgv: [] };

function start(dir: string, extra: string[] = []): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(BIN, ['--dir', dir, ...extra], FORK);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`tsemu-sheepd exited early (${code})`)));
    child.on('message', (m: { type?: string; port?: number }) => { if (m.type === 'ready') resolve({ child, port: m.port! }); });
  });
}

function ask<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    child.send({ type });
  });
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.disconnect();
  });
}

describe('tsemu-sheepd in its own process', () => {
  it('serves the driver, reports its traffic over IPC, and keeps the data across a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsemu-sheepd-bin-'));
    try {
      let { child, port } = await start(dir, ['--sync']);
      expect(port).toBeGreaterThan(0);
      await newVdi({ host: '127.0.0.1', port }, 'disk', 16 << 20, 0, false);
      const cleared = await ask<{ type: string; cpuUs: number }>(child, 'clear');
      expect(cleared.type).toBe('cleared');
      expect(cleared.cpuUs).toBeGreaterThan(0); // the daemon's CPU time so far, for the benchmark
      const bb = await openImage({ filename: `sheepdog://127.0.0.1:${port}/disk`, format: 'raw', cache: 'writeback' });
      const data = new Uint8Array(6 << 20).map((_, i) => (i * 7) & 0xff);
      await bb.write(1 << 20, data); // objects 0 and 1
      await bb.close(); // one FLUSH_VDI at close
      const { traffic } = await ask<{ traffic: Array<[number, number, number]> }>(child, 'stats');
      const count = (op: number, flags: number): number => traffic.find(([o, f]) => o === op && f === flags)?.[2] ?? 0;
      expect(count(SD_OP_CREATE_AND_WRITE_OBJ, 0x05)).toBe(2);
      expect(count(SD_OP_WRITE_OBJ, 0x05)).toBe(1); // the inode's data_vdi_id
      expect(count(SD_OP_FLUSH_VDI, 0x04)).toBe(1);
      expect(await stop(child)).toBe(0);

      ({ child, port } = await start(dir));
      const again = await openImage({ filename: `sheepdog://127.0.0.1:${port}/disk`, format: 'raw', readOnly: true });
      const back = new Uint8Array(data.length);
      await again.read(1 << 20, back);
      await again.close();
      expect(Buffer.compare(back, data)).toBe(0);
      expect(await stop(child)).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad arguments with its usage line and exit 1', async () => {
    const child = fork(BIN, ['--flavour', '9.9'], FORK);
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(err).toMatch(/^tsemu-sheepd: invalid --flavour or --port\nUsage: tsemu-sheepd /);
  });
});
