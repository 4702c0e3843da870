// Seeded random corruption: a few bits flipped in the L1 table, the first L2
// table, the refcount block or the offset bytes of the refcount table, then
// `check` and `check -r all` through tsemu-img and qemu-img 7.2 side by side
// (stdout, stderr, exit status, and qemu-img's JSON check of the result).
// The seed is printed; replay one with TSEMU_CHECK_FUZZ_SEED=<seed>.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide } from './harness.js';
import { must, spawn, tsemuImg } from './qcow2-harness.js';

const envSeed = process.env.TSEMU_CHECK_FUZZ_SEED;
const SEED = envSeed ? Number(envSeed) : 20261126;
const CASES = envSeed ? 1 : 12;

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  must('qemu-img', ['create', '-f', 'qcow2', 'base.qcow2', '64M'], w.q);
  must('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 256k', '-c', 'write -c 1M 64k', '-c', 'write -P 3 2M 64k', 'base.qcow2'], w.q);
});

afterAll(() => w.cleanup());

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Flips 1-3 random bits in the image's metadata; returns a description for failure messages. */
function flipBits(src: string, dst: string, rnd: () => number): string {
  const bytes = new Uint8Array(readFileSync(src));
  const dv = new DataView(bytes.buffer);
  const l1 = Number(dv.getBigUint64(40));
  const reftable = Number(dv.getBigUint64(48));
  const refblock = Number(dv.getBigUint64(reftable));
  const l2 = Number(dv.getBigUint64(l1) & 0x00fffffffffffe00n);
  // [start, bytes]: the refcount table's offset bytes only (its low bits give QEMU's unaligned-refblock message).
  const regions: Array<[number, number]> = [[l1, 8], [l2, 64], [refblock, 32], [reftable, 6]];
  const flips: string[] = [];
  for (let n = 1 + Math.floor(rnd() * 3); n > 0; n--) {
    const [start, len] = regions[Math.floor(rnd() * regions.length)]!;
    const at = start + Math.floor(rnd() * len);
    const bit = Math.floor(rnd() * 8);
    bytes[at]! ^= 1 << bit;
    flips.push(`0x${at.toString(16)}:${bit}`);
  }
  writeFileSync(dst, bytes);
  return flips.join(' ');
}

describe('check on randomly corrupted images', () => {
  it(`matches qemu-img (seed ${SEED})`, async () => {
    console.log(`qcow2 check fuzz seed: ${SEED} (replay: TSEMU_CHECK_FUZZ_SEED=${SEED})`);
    const rnd = mulberry32(SEED);
    for (let i = 0; i < CASES; i++) {
      const name = `f${i}.qcow2`;
      const flips = flipBits(`${w.q}/base.qcow2`, `${w.q}/${name}`, rnd);
      for (const mode of ['none', 'all']) {
        copyFileSync(`${w.q}/${name}`, `${w.q}/${mode}-${name}`);
        copyFileSync(`${w.q}/${name}`, `${w.t}/${mode}-${name}`);
        const args = mode === 'none' ? ['check', `${mode}-${name}`] : ['check', '-r', 'all', `${mode}-${name}`];
        const qemu = spawn('qemu-img', args, w.q);
        const tsemu = await tsemuImg(args, w.t);
        const what = `seed ${SEED} case ${i} (${flips}) ${args.join(' ')}`;
        expect(tsemu, what).toEqual(qemu);
        const after = ['check', '--output=json', `${mode}-${name}`];
        expect(spawn('qemu-img', after, w.t), what).toEqual(spawn('qemu-img', after, w.q));
      }
    }
  }, 300_000);
});
