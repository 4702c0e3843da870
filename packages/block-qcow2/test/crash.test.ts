// SIGKILL during random allocating writes: afterwards `qemu-img check` may
// report leaks (exit 3) but never corruption, and every write acknowledged
// before a completed flush reads back (unless a later write covered it).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createImage } from '@tsemu/block-core';
import '@tsemu/block-qcow2';
import { readAllTsemu } from './helpers/images.js';
import { makeTempDir, prng, qemuImgStatus } from './helpers/tools.js';
import { crashWrite } from './fixtures/crash-plan.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

const ROOT = join(import.meta.dirname, '../../..');
const WRITER = join(import.meta.dirname, 'fixtures/crash-writer.ts');

/** Runs the writer, kills it after `ms` of writing; returns the last I and F lines. */
function runAndKill(file: string, seed: number, ms: number): Promise<{ issued: number; durable: number }> {
  return new Promise((resolve, reject) => {
    // node itself (not the tsx wrapper), so SIGKILL hits the process doing the writes.
    const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', WRITER, file, String(seed)], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (timer === undefined && out.includes('ready\n')) timer = setTimeout(() => child.kill('SIGKILL'), ms);
    });
    child.on('error', reject);
    child.on('exit', () => {
      let issued = 0;
      let durable = 0;
      for (const line of out.split('\n')) {
        if (line.startsWith('I ')) issued = Number(line.slice(2));
        if (line.startsWith('F ')) durable = Number(line.slice(2));
      }
      resolve({ issued, durable });
    });
  });
}

describe('crash safety', () => {
  for (const [cs, lazy] of [[65536, 'off'], [4096, 'on'], [512, 'off']] as const) {
    it(`SIGKILL mid-write leaves no corruption (cluster_size=${cs}, lazy_refcounts=${lazy})`, async () => {
      const rnd = prng(cs);
      for (let round = 0; round < 2; round++) {
        const seed = cs + round;
        const f = tmp.path(`crash-${cs}-${round}.qcow2`);
        const size = 32 << 20;
        await createImage({ filename: f, format: 'qcow2', size, options: { cluster_size: String(cs), lazy_refcounts: lazy } });
        const { issued, durable } = await runAndKill(f, seed, 300 + Math.floor(rnd() * 900));
        expect(issued, `seed ${seed}: the writer never got going`).toBeGreaterThan(8);
        const check = qemuImgStatus('check', f);
        expect([0, 3], `seed ${seed}: ${check.stdout}${check.stderr}`).toContain(check.status);
        // What must have survived: writes < durable, except bytes any later issued write may cover.
        const expected = new Uint8Array(size);
        const known = new Uint8Array(size);
        for (let i = 0; i < durable; i++) {
          const w = crashWrite(seed, i, size);
          expected.fill(w.byte, w.offset, w.offset + w.length);
          known.fill(1, w.offset, w.offset + w.length);
        }
        // Writes of one batch run concurrently: where they overlap each other, either may win.
        for (let b = 0; b + 4 <= durable; b += 4) {
          for (let x = b; x < b + 4; x++) {
            for (let y = x + 1; y < b + 4; y++) {
              const p = crashWrite(seed, x, size);
              const q = crashWrite(seed, y, size);
              const s = Math.max(p.offset, q.offset);
              const e = Math.min(p.offset + p.length, q.offset + q.length);
              if (s < e) known.fill(0, s, e);
            }
          }
        }
        for (let i = durable; i < issued; i++) {
          const w = crashWrite(seed, i, size);
          known.fill(0, w.offset, w.offset + w.length);
        }
        const actual = await readAllTsemu(f);
        let bad = -1;
        for (let i = 0; i < size && bad < 0; i++) if (known[i] && actual[i] !== expected[i]) bad = i;
        expect(bad, `seed ${seed}: issued ${issued}, durable ${durable}`).toBe(-1);
      }
    });
  }
});
