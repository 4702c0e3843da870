// amend -o refcount_bits=N against qemu-img 7.2: the same stdout (with -p,
// the progress steps of QEMU's walks), stderr and exit status, and the same
// file byte for byte (new blocks and table where qemu-img puts them, old ones
// freed), for 1..64 bits, cluster sizes 512 B / 4 KiB / 64 KiB, with
// snapshots and compressed clusters, combined with compat up- and downgrades,
// refused widths (a refcount that does not fit, v2 images) and QEMU's
// parsing of the number.
import { copyFileSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide } from './harness.js';
import { must, spawn, tsemuImg } from './qcow2-harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  const q = (args: string[]): string => must('qemu-img', args, w.q);
  const io = (f: string, ...cmds: string[]): string => must('qemu-io', ['-f', 'qcow2', ...cmds.flatMap((c) => ['-c', c]), f], w.q);
  for (const cs of [512, 4096, 65536]) {
    // Snapshots and compressed clusters: refcounts above 1 (2 from the snapshot, more in shared compressed clusters).
    q(['create', '-f', 'qcow2', '-o', `cluster_size=${cs}`, `snap-${cs}.qcow2`, '16M']);
    io(`snap-${cs}.qcow2`, 'write -P 1 0 3M', 'write -c 4M 256k', 'write -P 3 8M 1M');
    q(['snapshot', '-c', 's1', `snap-${cs}.qcow2`]);
    io(`snap-${cs}.qcow2`, 'write -P 2 0 64k', 'discard 8M 512k');
    // Only refcounts of 0 and 1: every width fits; with 512 B clusters the tables span several clusters.
    q(['create', '-f', 'qcow2', '-o', `cluster_size=${cs}`, `plain-${cs}.qcow2`, '64M']);
    io(`plain-${cs}.qcow2`, 'write -P 1 0 3M', 'write -P 3 8M 5M', 'write -z 20M 1M');
  }
  q(['create', '-f', 'qcow2', '-o', 'compat=0.10', 'v2.qcow2', '16M']);
  io('v2.qcow2', 'write -P 1 0 3M');
  q(['snapshot', '-c', 's1', 'v2.qcow2']);
  q(['create', '-f', 'qcow2', '-o', 'refcount_bits=64', 'wide.qcow2', '16M']);
  io('wide.qcow2', 'write -P 1 0 3M', 'write -z 4M 1M');
});

afterAll(() => w.cleanup());

let n = 0;

/** Amends copies of `fixture` with both tools; everything they print and the files must be equal. */
async function expectSameAmend(fixture: string, options: string, progress = true): Promise<{ code: number; stderr: string }> {
  const name = `t${n++}.qcow2`;
  copyFileSync(`${w.q}/${fixture}`, `${w.q}/${name}`);
  copyFileSync(`${w.q}/${fixture}`, `${w.t}/${name}`);
  const args = ['amend', ...(progress ? ['-p'] : []), '-o', options, name];
  const qemu = spawn('qemu-img', args, w.q);
  const tsemu = await tsemuImg(args, w.t);
  expect(tsemu, `${fixture}: amend ${options}`).toEqual(qemu);
  expect(Buffer.compare(readFileSync(`${w.t}/${name}`), readFileSync(`${w.q}/${name}`)), `${fixture}: ${options}: files`).toBe(0);
  const check = spawn('qemu-img', ['check', name], w.t);
  expect(check.code, check.stdout + check.stderr).toBe(0);
  expect(spawn('qemu-img', ['compare', `${w.q}/${fixture}`, name], w.t).code).toBe(0);
  expect(spawn('qemu-img', ['info', '--output=json', name], w.t).stdout).toBe(spawn('qemu-img', ['info', '--output=json', name], w.q).stdout);
  return qemu;
}

describe('amend -o refcount_bits', () => {
  it.each([512, 4096, 65536])('every width, %i-byte clusters, refcounts 0 and 1', async (cs) => {
    // 64 KiB clusters: both tools walk 2^28 refcounts per pass, so fewer widths.
    for (const bits of cs === 65536 ? [1, 4, 64] : [1, 2, 4, 8, 32, 64]) {
      expect((await expectSameAmend(`plain-${cs}.qcow2`, `refcount_bits=${bits}`)).code).toBe(0);
    }
  });

  it.each([512, 4096, 65536])('with snapshots and compressed clusters, %i-byte clusters: too narrow widths refused', async (cs) => {
    for (const bits of [1, 2, 4, 8, 64]) {
      const r = await expectSameAmend(`snap-${cs}.qcow2`, `refcount_bits=${bits}`);
      if (r.code !== 0) expect(r.stderr).toMatch(/^qemu-img: Cannot decrease refcount entry width to \d+ bits: Cluster at offset 0x[0-9a-f]+ has a refcount of \d+\n$/);
    }
  });

  it('combined with compat, lazy_refcounts and size; v2 refusals', async () => {
    for (const o of ['compat=0.10,refcount_bits=16', 'compat=0.10', 'lazy_refcounts=on,refcount_bits=8', 'refcount_bits=1,size=32M']) {
      await expectSameAmend('wide.qcow2', o);
    }
    for (const o of ['refcount_bits=8', 'compat=1.1,refcount_bits=8', 'compat=1.1,refcount_bits=64', 'refcount_bits=16']) {
      await expectSameAmend('v2.qcow2', o);
    }
  });

  it('parses the width as QEMU does', async () => {
    for (const v of ['x', '16k', '', '18446744073709551616', '4294967304', ' 8', '010', '0x40', '-1', '3', '128', '0']) {
      await expectSameAmend('plain-65536.qcow2', `refcount_bits=${v}`, false);
    }
  });
});
