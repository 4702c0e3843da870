// SIGKILL during random allocating writes: afterwards `qemu-img check` may
// report leaks (exit 3) but never corruption, and every write acknowledged
// before a completed flush reads back (unless a later write covered it).
// With lazy_refcounts=on the image is left dirty instead: check may also
// report refcount errors, all of which `check -r all` (and tsemu's read-write
// open) repair, and the data is there all the same.
import { spawn } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createImage, openImage } from '@tsemu/block-core';
import '@tsemu/block-qcow2';
import { readAllTsemu } from './helpers/images.js';
import { makeTempDir, prng, qemuImg, qemuImgStatus } from './helpers/tools.js';
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
  for (const [cs, lazy] of [[65536, 'off'], [512, 'off']] as const) {
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
        await expectDurable(f, seed, size, issued, durable);
      }
    });
  }
});

/** Every write < durable reads back, except bytes a later issued write (or a same-batch write) may cover. */
async function expectDurable(f: string, seed: number, size: number, issued: number, durable: number): Promise<void> {
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

/** `qemu-img check` lines that are neither leaks nor refcount errors a rebuild fixes (empty when all is well). */
function unexpectedCheckLines(output: string): string[] {
  return output.split('\n').filter((l) => l.startsWith('ERROR') || l.startsWith('Warning'))
    .filter((l) => !/^ERROR cluster \d+ refcount=\d+ reference=\d+$/.test(l) && !l.startsWith('ERROR OFLAG_COPIED '));
}

const dirtyFlag = (f: string): boolean => (JSON.parse(qemuImg('info', '--output=json', f)) as { 'dirty-flag': boolean })['dirty-flag'];

describe('crash safety with lazy_refcounts=on', () => {
  for (const cs of [4096, 65536]) {
    it(`SIGKILL leaves a dirty image that check -r all and tsemu's open repair (cluster_size=${cs})`, async () => {
      const rnd = prng(cs * 7);
      for (let round = 0; round < 2; round++) {
        const seed = cs * 7 + round;
        const f = tmp.path(`lazy-${cs}-${round}.qcow2`);
        const size = 32 << 20;
        await createImage({ filename: f, format: 'qcow2', size, options: { cluster_size: String(cs), lazy_refcounts: 'on' } });
        const { issued, durable } = await runAndKill(f, seed, 300 + Math.floor(rnd() * 900));
        expect(issued, `seed ${seed}: the writer never got going`).toBeGreaterThan(8);
        // The first allocation set the dirty bit; nothing cleared it.
        expect(dirtyFlag(f), `seed ${seed}`).toBe(true);
        const check = qemuImgStatus('check', f);
        expect([0, 2, 3], `seed ${seed}: ${check.stdout}${check.stderr}`).toContain(check.status);
        expect(unexpectedCheckLines(check.stdout + check.stderr), `seed ${seed}`).toEqual([]);
        // QEMU's repair of a copy fixes everything it reported.
        const copy = tmp.path(`lazy-${cs}-${round}-copy.qcow2`);
        copyFileSync(f, copy);
        const repair = qemuImgStatus('check', '-r', 'all', copy);
        expect(repair.status, `seed ${seed}: ${repair.stdout}${repair.stderr}`).toBe(0);
        expect(qemuImgStatus('check', copy).status).toBe(0);
        // Read-only, the dirty image reads as it is (no repair, as QEMU)...
        await expectDurable(f, seed, size, issued, durable);
        expect(dirtyFlag(f)).toBe(true);
        // ...read-write, tsemu repairs it on open and the image checks clean.
        const blk = await openImage({ filename: f, format: 'qcow2' });
        await blk.close();
        const after = qemuImgStatus('check', f);
        expect(after.status, `seed ${seed}: ${after.stdout}${after.stderr}`).toBe(0);
        expect(dirtyFlag(f)).toBe(false);
        await expectDurable(f, seed, size, issued, durable);
      }
    });
  }
});
