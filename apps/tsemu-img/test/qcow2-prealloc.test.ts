// preallocation=falloc|full at create and resize --preallocation=metadata|
// falloc|full on qcow2, against qemu-img 7.2: the same output and exit
// status, the same file byte for byte (QEMU's layout: new refcount
// structures at the end, the data area after them, L2 tables allocated
// last), and the space really allocated (`disk size` / actual-size).
import { copyFileSync, readFileSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide } from './harness.js';
import { must, spawn, tsemuImg } from './qcow2-harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  for (const cs of [4096, 65536]) {
    must('qemu-img', ['create', '-f', 'qcow2', '-o', `cluster_size=${cs}`, `small-${cs}.qcow2`, '1M'], w.q);
    must('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 300k', `small-${cs}.qcow2`], w.q);
  }
});

afterAll(() => w.cleanup());

/** info --output=json without what depends on how the file system allocated. */
function info(dir: string, name: string): unknown {
  const i = JSON.parse(spawn('qemu-img', ['info', '--output=json', name], dir).stdout) as Record<string, unknown>;
  delete i['actual-size'];
  return i;
}

function expectSameFiles(name: string): void {
  expect(Buffer.compare(readFileSync(`${w.t}/${name}`), readFileSync(`${w.q}/${name}`)), `${name}: bytes`).toBe(0);
  expect(info(w.t, name)).toEqual(info(w.q, name));
  const check = spawn('qemu-img', ['check', name], w.t);
  expect(check.code, check.stdout + check.stderr).toBe(0);
}

/** Blocks the file really has, in bytes. */
function allocated(dir: string, name: string): number {
  return statSync(`${dir}/${name}`).blocks * 512;
}

describe('qcow2 preallocation', () => {
  it.each(['falloc', 'full', 'metadata'])('create -o preallocation=%s at several cluster and image sizes', async (mode) => {
    for (const [cs, size] of [[512, '1M'], [65536, '1M'], [65536, '64M'], [2097152, '8M'], [4096, '40M']] as const) {
      const name = `c-${mode}-${cs}-${size}.qcow2`;
      const args = ['create', '-f', 'qcow2', '-o', `preallocation=${mode},cluster_size=${cs}`, name, size];
      const qemu = spawn('qemu-img', args, w.q);
      expect(await tsemuImg(args, w.t)).toEqual(qemu);
      expectSameFiles(name);
      const virtual = Number((info(w.q, name) as { 'virtual-size': number })['virtual-size']);
      // falloc and full reserve the whole data area (metadata leaves it to the file system).
      if (mode !== 'metadata') expect(allocated(w.t, name)).toBeGreaterThanOrEqual(virtual);
    }
  });

  it.each(['metadata', 'falloc', 'full', 'off'])('resize --preallocation=%s grows like qemu-img', async (mode) => {
    for (const cs of [4096, 65536]) {
      for (const delta of ['+3M', '+30M']) {
        const name = `r-${mode}-${cs}${delta}.qcow2`;
        copyFileSync(`${w.q}/small-${cs}.qcow2`, `${w.q}/${name}`);
        copyFileSync(`${w.q}/small-${cs}.qcow2`, `${w.t}/${name}`);
        const args = ['resize', `--preallocation=${mode}`, name, delta];
        const qemu = spawn('qemu-img', args, w.q);
        expect(qemu.code).toBe(0);
        expect(await tsemuImg(args, w.t)).toEqual(qemu);
        expectSameFiles(name);
        expect(spawn('qemu-img', ['compare', `${w.q}/small-${cs}.qcow2`, name], w.t).code).toBe(0);
      }
    }
  });

  it('refuses preallocation for a shrink or an unchanged size, as qemu-img', async () => {
    for (const args of [['--preallocation=falloc', '--shrink', 'x.qcow2', '512k'], ['--preallocation=full', 'x.qcow2', '1M'],
      ['--preallocation=metadata', 'x.qcow2', '--', '-1M']]) {
      copyFileSync(`${w.q}/small-65536.qcow2`, `${w.q}/x.qcow2`);
      copyFileSync(`${w.q}/small-65536.qcow2`, `${w.t}/x.qcow2`);
      const qemu = spawn('qemu-img', ['resize', ...args], w.q);
      expect(qemu.code).toBe(1);
      expect(await tsemuImg(['resize', ...args], w.t)).toEqual(qemu);
    }
  });
});
