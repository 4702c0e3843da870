// -p output of convert, rebase, amend and commit against qemu-img 7.2 on
// identical images. qemu-img prints "    (N.NN/100%)\r" whenever the value
// moved by more than the command's minimum step, or is 0 or 100:
//  - convert: after each copied piece (a block-status run, at most 2 MiB);
//  - rebase: 100 / (size / 2 MiB) added for every unallocated piece it compared;
//  - amend: qcow2's status callbacks (upgrade in two steps, downgrade per L1 entry);
//  - commit: whenever its event loop wakes up while the job runs, so its own
//    output differs between runs; there the test checks that tsemu-img's
//    sequence is one qemu-img can print (same start, end and steps).
import { copyFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide, type RunResult } from './harness.js';
import { must, spawn, tsemuImg } from './qcow2-harness.js';

let w: SideBySide;

function both(bin: string, args: string[]): void {
  must(bin, args, w.q);
  must(bin, args, w.t);
}

async function expectSame(args: string[]): Promise<{ qemu: RunResult; tsemu: RunResult }> {
  const qemu = spawn('qemu-img', args, w.q);
  const tsemu = await tsemuImg(args, w.t);
  expect(tsemu, args.join(' ')).toEqual(qemu);
  return { qemu, tsemu };
}

/** The printed values of a -p output ("0.00", "3.12", ...). */
function steps(stdout: string): string[] {
  return [...stdout.matchAll(/ {4}\((\d+\.\d\d)\/100%\)\r/g)].map((m) => m[1]!);
}

beforeAll(() => {
  w = new SideBySide();
  // Host clusters out of guest order (separate block-status runs), a compressed run, a zero run.
  both('qemu-img', ['create', '-f', 'qcow2', 'frag.qcow2', '64M']);
  both('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 4M 2M', '-c', 'write -P 2 2M 2M', '-c', 'write -P 3 0 2M',
    '-c', 'write -P 4 6M 1M', '-c', 'write -c 10M 256k', '-c', 'write -z 20M 1M', 'frag.qcow2']);
  // 4 KiB clusters: an L2 table covers 2 MiB, so runs end there.
  both('qemu-img', ['create', '-f', 'qcow2', '-o', 'cluster_size=4096', 'small.qcow2', '16M']);
  both('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 1M 3M', '-c', 'write -P 2 0 1M', 'small.qcow2']);
  both('qemu-img', ['create', '-f', 'raw', 'sparse.raw', '100M']);
  both('qemu-io', ['-f', 'raw', '-c', 'write -P 5 1M 3M', '-c', 'write -P 0 10M 1M', '-c', 'write -P 6 50M 7M', 'sparse.raw']);
  // A backing chain for rebase and commit; nb.qcow2 is another base.
  both('qemu-img', ['create', '-f', 'qcow2', 'base.qcow2', '64M']);
  both('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 5M', '-c', 'write -P 2 20M 3M', 'base.qcow2']);
  both('qemu-img', ['create', '-f', 'qcow2', 'nb.qcow2', '64M']);
  both('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 2M', '-c', 'write -P 7 30M 1M', 'nb.qcow2']);
  both('qemu-img', ['create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2']);
  both('qemu-io', ['-f', 'qcow2', '-c', 'write -P 3 3M 7M', '-c', 'write -z 50M 2M', 'top.qcow2']);
  both('qemu-img', ['create', '-f', 'qcow2', '-o', 'compat=0.10', 'v2.qcow2', '64M']);
  both('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 5M', 'v2.qcow2']);
  both('qemu-img', ['create', '-f', 'qcow2', '-o', 'cluster_size=4096', 'v3small.qcow2', '64M']);
  both('qemu-io', ['-f', 'qcow2', '-c', 'write -z 0 1M', '-c', 'write -P 1 8M 1M', 'v3small.qcow2']);
});

afterAll(() => w.cleanup());

describe('-p progress steps', () => {
  it.each([
    [['convert', '-p', '-O', 'raw', 'frag.qcow2', 'o1.raw']],
    [['convert', '-p', '-O', 'qcow2', 'small.qcow2', 'o2.qcow2']],
    [['convert', '-p', '-O', 'qcow2', 'sparse.raw', 'o3.qcow2']],
    [['convert', '-p', '-O', 'raw', 'sparse.raw', 'o4.raw']],
  ])('%j: same steps as qemu-img', async (args) => {
    await expectSame(args);
  });

  // -c steps per cluster over data only; -S 0 per block-status run over everything.
  it.each([
    [['convert', '-p', '-c', '-O', 'qcow2', 'frag.qcow2', 'c1.qcow2']],
    [['convert', '-p', '-c', '-O', 'qcow2', 'small.qcow2', 'c2.qcow2']],
    [['convert', '-p', '-c', '-O', 'qcow2', 'sparse.raw', 'c3.qcow2']],
    [['convert', '-p', '-c', '-O', 'qcow2', '-o', 'cluster_size=4096', 'sparse.raw', 'c4.qcow2']],
    [['convert', '-p', '-c', '-S', '0', '-O', 'qcow2', 'frag.qcow2', 'c5.qcow2']],
    [['convert', '-p', '-S', '0', '-O', 'raw', 'frag.qcow2', 's1.raw']],
    [['convert', '-p', '-S', '0', '-O', 'qcow2', 'small.qcow2', 's2.qcow2']],
    [['convert', '-p', '-S', '0', '-O', 'qcow2', 'sparse.raw', 's3.qcow2']],
    [['convert', '-p', '-S', '0', '-O', 'raw', 'sparse.raw', 's4.raw']],
  ])('%j: same steps and image as qemu-img', async (args) => {
    const { qemu } = await expectSame(args);
    expect(steps(qemu.stdout).length).toBeGreaterThan(2);
    const out = args[args.length - 1]!;
    expect(spawn('qemu-img', ['compare', `${w.q}/${out}`, `${w.t}/${out}`], w.t).code).toBe(0);
    const map = (d: string): string => spawn('qemu-img', ['map', '--output=json', `${d}/${out}`], d).stdout;
    if (!args.includes('-c')) expect(map(w.t)).toEqual(map(w.q));
  });

  it('rebase: safe onto another base, onto the same base, flattening, -u, and a missing backing file', async () => {
    for (const d of [w.q, w.t]) for (const n of ['r1', 'r2', 'r3']) copyFileSync(`${d}/top.qcow2`, `${d}/${n}.qcow2`);
    const { qemu } = await expectSame(['rebase', '-p', '-b', 'nb.qcow2', '-F', 'qcow2', 'r1.qcow2']);
    expect(steps(qemu.stdout).length).toBeGreaterThan(10); // really stepped
    await expectSame(['rebase', '-p', '-b', 'nb.qcow2', '-F', 'qcow2', 'r1.qcow2']); // nothing left to compare
    await expectSame(['rebase', '-p', '-b', '', 'r2.qcow2']);
    await expectSame(['rebase', '-p', '-u', '-b', 'nb.qcow2', '-F', 'qcow2', 'r3.qcow2']);
    await expectSame(['rebase', '-p', '-b', 'missing.qcow2', '-F', 'qcow2', 'r3.qcow2']);
    expect(spawn('qemu-img', ['compare', `${w.q}/r1.qcow2`, `${w.t}/r1.qcow2`], w.t).code).toBe(0);
    expect(spawn('qemu-img', ['compare', `${w.q}/r2.qcow2`, `${w.t}/r2.qcow2`], w.t).code).toBe(0);
  });

  it('amend: upgrade, downgrade per L1 entry (with a snapshot), no-callback changes, errors', async () => {
    for (const d of [w.q, w.t]) {
      copyFileSync(`${d}/v2.qcow2`, `${d}/a1.qcow2`);
      copyFileSync(`${d}/v3small.qcow2`, `${d}/a2.qcow2`);
      copyFileSync(`${d}/base.qcow2`, `${d}/a3.qcow2`);
    }
    must('qemu-img', ['snapshot', '-c', 's1', 'a3.qcow2'], w.q);
    copyFileSync(`${w.q}/a3.qcow2`, `${w.t}/a3.qcow2`);
    await expectSame(['amend', '-p', '-o', 'compat=1.1', 'a1.qcow2']);
    await expectSame(['amend', '-p', '-o', 'compat=0.10', 'a2.qcow2']);
    await expectSame(['amend', '-p', '-o', 'compat=0.10', 'a3.qcow2']);
    await expectSame(['amend', '-p', '-o', 'lazy_refcounts=on', 'a1.qcow2']);
    await expectSame(['amend', '-p', '-o', 'size=128M', 'a1.qcow2']);
    await expectSame(['amend', '-p', '-o', 'compat=9', 'a1.qcow2']);
    await expectSame(['amend', '-p', '-o', 'cluster_size=4k', 'a1.qcow2']);
    await expectSame(['amend', '-p', '-o', 'foo=bar', 'a1.qcow2']);
    await expectSame(['amend', '-p', '-o', 'compat=1.1', 'missing.qcow2']);
    await expectSame(['amend', '-p', '-f', 'raw', '-o', 'size=2M', 'sparse.raw']);
    await expectSame(['info', 'a2.qcow2']);
  });

  it('commit: a sequence qemu-img prints (first poll at 0, one step per 1 MiB piece, 100 twice)', async () => {
    // Only data in whole 1 MiB pieces: any set of finished pieces is a multiple of the same step.
    for (const d of [w.q, w.t]) {
      copyFileSync(`${d}/base.qcow2`, `${d}/cb.qcow2`);
      must('qemu-img', ['create', '-f', 'qcow2', '-b', 'cb.qcow2', '-F', 'qcow2', 'ct.qcow2'], d);
      must('qemu-io', ['-f', 'qcow2', '-c', 'write -P 3 1M 3M', '-c', 'write -P 4 8M 2M', 'ct.qcow2'], d);
    }
    const { qemu, tsemu } = { qemu: spawn('qemu-img', ['commit', '-p', 'ct.qcow2'], w.q), tsemu: await tsemuImg(['commit', '-p', 'ct.qcow2'], w.t) };
    expect({ ...tsemu, stdout: '' }).toEqual({ ...qemu, stdout: '' });
    const q = steps(qemu.stdout);
    const t = steps(tsemu.stdout);
    expect(t).toEqual(['0.00', '0.00', '20.00', '40.00', '60.00', '80.00', '100.00', '100.00']);
    expect(q.slice(0, 2)).toEqual(['0.00', '0.00']);
    expect(q.slice(-2)).toEqual(['100.00', '100.00']);
    for (const v of q) expect(t, `qemu-img printed ${v}`).toContain(v);
    expect(tsemu.stdout.endsWith('\r\nImage committed.\n')).toBe(true);
    expect(spawn('qemu-img', ['compare', `${w.q}/cb.qcow2`, `${w.t}/cb.qcow2`], w.t).code).toBe(0);
  });
});
