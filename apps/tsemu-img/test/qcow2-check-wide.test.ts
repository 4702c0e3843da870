// check [-r leaks|all] against qemu-img 7.2 where refcounts are at the edge
// of their width: 64-bit refcounts above 2^53 and at 2^64 - 1 (exact values
// in the messages, exact repairs, QEMU's EINVAL when an increment would
// overflow), the checker's own overflow (a cluster referenced more often
// than refcount_bits=1 can count) and a refcount block outside the image,
// with every refcount width's repair. Same stdout, stderr, exit status and
// resulting file as qemu-img.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide, type RunResult } from './harness.js';
import { firstRealDifference } from './qcow2-image-compare.js';
import { must, spawn, tsemuImg } from './qcow2-harness.js';

let w: SideBySide;

/** Rewrites bytes of an image in qemu's directory and copies the result to tsemu's. */
function patch(from: string, to: string, edit: (dv: DataView) => void): void {
  const bytes = new Uint8Array(readFileSync(`${w.q}/${from}`));
  edit(new DataView(bytes.buffer));
  writeFileSync(`${w.q}/${to}`, bytes);
  copyFileSync(`${w.q}/${to}`, `${w.t}/${to}`);
}

const reftable = (dv: DataView): number => Number(dv.getBigUint64(48));
const refblock0 = (dv: DataView): number => Number(dv.getBigUint64(reftable(dv)) & ~0x1ffn);
const l2Table0 = (dv: DataView): number => Number(dv.getBigUint64(Number(dv.getBigUint64(40))) & 0x00fffffffffffe00n);

async function expectSame(args: string[], image: string): Promise<{ qemu: RunResult; tsemu: RunResult }> {
  const qemu = spawn('qemu-img', args, w.q);
  const tsemu = await tsemuImg(args, w.t);
  expect(tsemu, args.join(' ')).toEqual(qemu);
  expect(firstRealDifference(`${w.q}/${image}`, `${w.t}/${image}`), `first differing cluster of ${image}`).toBe(-1);
  return { qemu, tsemu };
}

beforeAll(() => {
  w = new SideBySide();
  for (const bits of [1, 16, 64]) {
    must('qemu-img', ['create', '-f', 'qcow2', '-o', `refcount_bits=${bits}`, `r${bits}.qcow2`, '4M'], w.q);
    must('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 128k', `r${bits}.qcow2`], w.q);
  }
});

afterAll(() => w.cleanup());

describe('64-bit refcounts', () => {
  // Clusters 4 (the L2 table) and 5 (data) of r64.qcow2.
  const cases: Array<[string, bigint, bigint]> = [
    ['near-max', 0xfffffffffffffffen, (1n << 53n) + 1n],
    ['max', (1n << 53n) + 1n, 0xffffffffffffffffn],
    ['above-2^53', (1n << 60n) + 3n, (1n << 53n)],
  ];
  it.each(cases)('%s: check, -r leaks, -r all print the exact counts and repair them', async (name, l2Count, dataCount) => {
    for (const mode of ['none', 'leaks', 'all']) {
      const image = `${name}-${mode}.qcow2`;
      patch('r64.qcow2', image, (dv) => {
        dv.setBigUint64(refblock0(dv) + 4 * 8, l2Count);
        dv.setBigUint64(refblock0(dv) + 5 * 8, dataCount);
      });
      const { qemu } = await expectSame(mode === 'none' ? ['check', image] : ['check', '-r', mode, image], image);
      expect(qemu.stdout + qemu.stderr).toContain(`refcount=${dataCount}`);
      await expectSame(['check', '--output=json', image], image);
    }
  });

  it('an increment past 2^64 - 1 fails with EINVAL (snapshot -c), leaving what qemu-img leaves', async () => {
    patch('r64.qcow2', 'full.qcow2', (dv) => dv.setBigUint64(refblock0(dv) + 5 * 8, 0xffffffffffffffffn));
    const { qemu } = await expectSame(['snapshot', '-c', 's1', 'full.qcow2'], 'full.qcow2');
    expect(qemu.code).toBe(1);
    await expectSame(['check', 'full.qcow2'], 'full.qcow2');
    await expectSame(['check', '-r', 'all', 'full.qcow2'], 'full.qcow2');
  });
});

describe('overflow and refcount blocks outside the image', () => {
  it('refcount_bits=1: a cluster referenced twice overflows the checker, for every -r mode', async () => {
    for (const mode of ['none', 'leaks', 'all']) {
      const image = `ov-${mode}.qcow2`;
      // Guest cluster 5 points at guest cluster 0's host cluster.
      patch('r1.qcow2', image, (dv) => dv.setBigUint64(l2Table0(dv) + 5 * 8, dv.getBigUint64(l2Table0(dv))));
      const { qemu } = await expectSame(mode === 'none' ? ['check', image] : ['check', '-r', mode, image], image);
      expect(qemu.stderr).toContain('ERROR: overflow cluster offset=');
    }
    patch('r1.qcow2', 'snap1.qcow2', () => {});
    await expectSame(['snapshot', '-c', 's1', 'snap1.qcow2'], 'snap1.qcow2'); // a snapshot cannot count to 2
  });

  it.each([1, 16, 64])('refcount_bits=%i: refcount block 0 far past the end of the file', async (bits) => {
    for (const mode of ['none', 'leaks', 'all']) {
      const image = `out${bits}-${mode}.qcow2`;
      patch(`r${bits}.qcow2`, image, (dv) => dv.setBigUint64(reftable(dv), 300n * 65536n));
      const { qemu } = await expectSame(mode === 'none' ? ['check', image] : ['check', '-r', mode, image], image);
      expect(qemu.stderr).toMatch(/(ERROR|Repairing) refcount block 0 is outside image/);
      if (mode === 'all') await expectSame(['check', image], image);
    }
  });
});
