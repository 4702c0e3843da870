// Seeded random mix through tsemu against an in-memory model: concurrent
// writes / write-zeroes / discards, compressed writes, snapshot create /
// apply / delete, grow / shrink, reopen. After the run `qemu-img check` is
// clean, the active image equals the model and every snapshot equals its copy
// (read by qemu-img convert -l). The seed is in the test name.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { BlockError, createImage, openImage, type BlockBackend } from '@tsemu/block-core';
import type { Qcow2DriverState } from '@tsemu/block-qcow2';
import { firstDiff, readAll } from './helpers/images.js';
import { expectCleanCheck, makeTempDir, prng } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

function st(blk: BlockBackend): Qcow2DriverState {
  return blk.root.state as unknown as Qcow2DriverState;
}

const CASES: Array<readonly [number, number]> = [[11, 4096], [12, 65536], [13, 512], [14, 2 * 1024 * 1024]];
// QCOW2_MIXED_SEEDS=n adds n more seeds (for soak runs).
const SIZES = [512, 1024, 4096, 16384, 65536];
for (let i = 0; i < Number(process.env.QCOW2_MIXED_SEEDS ?? 0); i++) CASES.push([100 + i, SIZES[i % SIZES.length]!]);

for (const [seed, cs] of CASES) {
  describe('mixed random operations', () => {
    it(`seed=${seed} cluster_size=${cs}`, async () => {
      const rnd = prng(seed);
      const f = tmp.path(`m${seed}.qcow2`);
      let size = Math.max(4 << 20, 8 * cs);
      await createImage({ filename: f, format: 'qcow2', size, options: { cluster_size: String(cs) } });
      let model = new Uint8Array(size);
      const snapshots = new Map<string, Uint8Array>();
      let blk = await openImage({ filename: f, format: 'qcow2', discard: 'unmap' });
      let snapCounter = 0;
      const trace: string[] = [];
      const verifyEachStep = process.env.QCOW2_MIXED_VERIFY === '1';
      for (let step = 0; step < 60; step++) {
        if (verifyEachStep) {
          const d = firstDiff(await readAll(blk), model);
          if (d !== -1) throw new Error(`diverged at ${d} before step ${step}:\n${trace.join('\n')}`);
        }
        const r = rnd();
        trace.push(`step ${step} r=${r.toFixed(3)} size=${size}`);
        if (r < 0.45) {
          const ops: Promise<void>[] = [];
          const used: Array<[number, number]> = [];
          for (let k = 0; k < 4; k++) {
            const len = 1 + Math.floor(rnd() ** 2 * Math.min(size / 2, 3 * cs + 3000));
            const off = Math.floor(rnd() * (size - len));
            if (used.some(([s, e]) => off < e && off + len > s)) continue;
            used.push([off, off + len]);
            const kind = rnd();
            if (kind < 0.75) {
              const b = 1 + Math.floor(rnd() * 255);
              model.fill(b, off, off + len);
              ops.push(blk.write(off, new Uint8Array(len).fill(b)));
            } else if (kind < 0.9) {
              model.fill(0, off, off + len);
              ops.push(blk.writeZeroes(off, len, { mayUnmap: rnd() < 0.5 }));
            } else {
              const s = Math.ceil(off / cs) * cs;
              const e = off + len >= size ? size : Math.floor((off + len) / cs) * cs;
              if (e > s) model.fill(0, s, e);
              ops.push(blk.discard(off, len));
            }
          }
          await Promise.all(ops);
        } else if (r < 0.6) {
          // Compressed write of one cluster: allowed only where no data is allocated.
          const c = Math.floor(rnd() * Math.floor(size / cs));
          const data = new Uint8Array(cs);
          const b = Math.floor(rnd() * 200);
          for (let i = 0; i < cs; i++) data[i] = (b + (i % 7)) & 0xff;
          try {
            await st(blk).pwritevCompressed(c * cs, cs, [data]);
            model.set(data, c * cs);
          } catch (err) {
            if (!(err instanceof BlockError && err.code === 'EIO')) throw err;
          }
        } else if (r < 0.7) {
          const name = `s${++snapCounter}`;
          await st(blk).snapshots.create(name);
          snapshots.set(name, model.slice());
        } else if (r < 0.76 && snapshots.size > 0) {
          const names = [...snapshots.keys()];
          const name = names[Math.floor(rnd() * names.length)]!;
          const snap = snapshots.get(name)!;
          if (snap.length === size) {
            await st(blk).snapshots.apply(name);
            model = snap.slice();
          }
        } else if (r < 0.82 && snapshots.size > 0) {
          const names = [...snapshots.keys()];
          const name = names[Math.floor(rnd() * names.length)]!;
          await st(blk).snapshots.delete(name);
          snapshots.delete(name);
        } else if (r < 0.9) {
          // Cluster-aligned resizes (a shrunken partial cluster keeps stale bytes, as in QEMU).
          const clusters = Math.max(2, Math.floor(size / cs) + Math.floor(rnd() * 9) - 4);
          const next = clusters * cs;
          await blk.truncate(next);
          const m = new Uint8Array(next);
          m.set(model.subarray(0, Math.min(size, next)));
          model = m;
          size = next;
        } else {
          await blk.close();
          blk = await openImage({ filename: f, format: 'qcow2', discard: 'unmap' });
        }
      }
      expect(firstDiff(await readAll(blk), model)).toBe(-1);
      await blk.close();
      expectCleanCheck(f);
      for (const [name, content] of snapshots) {
        const raw = tmp.path(`m${seed}-${name}.raw`);
        execFileSync('qemu-img', ['convert', '-l', `snapshot.name=${name}`, '-O', 'raw', f, raw]);
        // qemu-img reads a snapshot at the image's current size: compare the common part, the rest is zeroes.
        const got = new Uint8Array(readFileSync(raw));
        const n = Math.min(got.length, content.length);
        expect(firstDiff(got.subarray(0, n), content.subarray(0, n)), `snapshot ${name}`).toBe(-1);
        expect(got.subarray(n).every((b) => b === 0), `snapshot ${name} tail`).toBe(true);
      }
    });
  });
}
