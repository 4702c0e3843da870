// tsemu-img commit against qemu-img 7.2: the top image is emptied as QEMU's
// qcow2 make_empty does it (a v3 image without snapshots is reset to a fresh
// layout, byte for byte; otherwise every cluster is discarded), -d and -b
// leave it alone, and the base holds the same guest data. Where the base's
// clusters land is up to qemu-img's commit job (its copies run concurrently
// and complete in varying order), so only the base's host offsets are not
// compared.
import { copyFileSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide, type RunResult } from './harness.js';
import { firstRealDifference } from './qcow2-image-compare.js';
import { must, spawn, tsemuImg } from './qcow2-harness.js';

let w: SideBySide;

/** qemu-img on both sides: [qemu's side, tsemu's side]. */
function onBoth(args: string[]): [RunResult, RunResult] {
  return [spawn('qemu-img', args, w.q), spawn('qemu-img', args, w.t)];
}

/** The image on its own, without its backing chain (what make_empty changed). */
function alone(name: string): string {
  return `json:{"driver":"qcow2","file":{"driver":"file","filename":"${name}"},"backing":null}`;
}

function maskDiskSize(r: RunResult): RunResult {
  return { ...r, stdout: r.stdout.replace(/^disk size: .*$/gm, 'disk size: *') };
}

/** map --output=json without host offsets, runs of equal entries merged. */
function mapWithoutOffsets(out: string): string {
  const rows = (JSON.parse(out) as Array<Record<string, unknown>>).map(({ offset: _o, ...rest }) => rest);
  const merged: Array<Record<string, unknown>> = [];
  for (const r of rows) {
    const last = merged[merged.length - 1];
    const same = last && ['depth', 'present', 'zero', 'data'].every((k) => last[k] === r[k]) &&
      (last.start as number) + (last.length as number) === r.start;
    if (same) last.length = (last.length as number) + (r.length as number);
    else merged.push({ ...r });
  }
  return JSON.stringify(merged);
}

/** base <- mid <- top, in both directories; `topOptions` for the top's create. */
function chain(prefix: string, topOptions: string[] = []): void {
  for (const d of [w.q, w.t]) {
    must('qemu-img', ['create', '-f', 'qcow2', `${prefix}base.qcow2`, '16M'], d);
    must('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 1M', '-c', 'write -c 4M 64k', `${prefix}base.qcow2`], d);
    must('qemu-img', ['create', '-f', 'qcow2', '-b', `${prefix}base.qcow2`, '-F', 'qcow2', `${prefix}mid.qcow2`], d);
    must('qemu-io', ['-f', 'qcow2', '-c', 'write -P 2 512k 1M', '-c', 'write -z 8M 64k', `${prefix}mid.qcow2`], d);
    must('qemu-img', ['create', '-f', 'qcow2', ...topOptions, '-b', `${prefix}mid.qcow2`, '-F', 'qcow2', `${prefix}top.qcow2`], d);
    must('qemu-io', ['-f', 'qcow2', '-c', 'write -P 3 3M 2M', '-c', 'write -P 4 12M 4k', '-c', 'write -z 9M 128k',
      '-c', 'write -c 14M 64k', '-c', 'discard 600k 64k', `${prefix}top.qcow2`], d);
  }
}

async function commitBoth(args: string[]): Promise<void> {
  const qemu = spawn('qemu-img', ['commit', ...args], w.q);
  const tsemu = await tsemuImg(['commit', ...args], w.t);
  expect(tsemu).toEqual(qemu);
}

/** The emptied (or untouched) image: same on its own, to qemu-img, and in the file. */
function expectSameTop(name: string): void {
  for (const args of [['map', '--output=json', alone(name)], ['check', '--output=json', name], ['info', alone(name)]]) {
    const [q, t] = onBoth(args);
    expect(maskDiskSize(t), args.join(' ')).toEqual(maskDiskSize(q));
  }
  expect(firstRealDifference(`${w.q}/${name}`, `${w.t}/${name}`), name).toBe(-1);
}

/** The image data went into: same guest content and allocation, clean. */
function expectSameData(name: string, chainTop: string): void {
  const [qm, tm] = onBoth(['map', '--output=json', alone(name)]);
  expect(mapWithoutOffsets(tm.stdout)).toBe(mapWithoutOffsets(qm.stdout));
  expect(spawn('qemu-img', ['check', name], w.t).code).toBe(0);
  expect(spawn('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', `${w.q}/${name}`, `${w.t}/${name}`], w.t).code).toBe(0);
  expect(spawn('qemu-img', ['compare', `${w.q}/${chainTop}`, `${w.t}/${chainTop}`], w.t).code).toBe(0);
}

beforeAll(() => {
  w = new SideBySide();
});

afterAll(() => w.cleanup());

describe('commit empties the top image as qemu-img does', () => {
  it('v3 top without snapshots: reset to a fresh layout, byte for byte', async () => {
    chain('a-');
    await commitBoth(['a-top.qcow2']);
    expect(readFileSync(`${w.t}/a-top.qcow2`).length).toBe(4 * 65536);
    expectSameTop('a-top.qcow2');
    expectSameData('a-mid.qcow2', 'a-top.qcow2');
    const [q, t] = onBoth(['map', '--output=json', 'a-top.qcow2']);
    expect(mapWithoutOffsets(t.stdout)).toBe(mapWithoutOffsets(q.stdout));
  });

  it('v2 (compat=0.10) top: every cluster discarded, tables kept', async () => {
    chain('b-', ['-o', 'compat=0.10']);
    await commitBoth(['b-top.qcow2']);
    expectSameTop('b-top.qcow2');
    expectSameData('b-mid.qcow2', 'b-top.qcow2');
  });

  it('top with an internal snapshot: discarded, the snapshot keeps its clusters', async () => {
    chain('c-');
    must('qemu-img', ['snapshot', '-c', 's1', 'c-top.qcow2'], w.q);
    copyFileSync(`${w.q}/c-top.qcow2`, `${w.t}/c-top.qcow2`); // same snapshot date on both sides
    for (const d of [w.q, w.t]) must('qemu-io', ['-f', 'qcow2', '-c', 'write -P 9 6M 64k', 'c-top.qcow2'], d);
    await commitBoth(['c-top.qcow2']);
    expectSameTop('c-top.qcow2');
    expectSameData('c-mid.qcow2', 'c-top.qcow2');
  });

  it('-d keeps the top as it was', async () => {
    chain('d-');
    const before = readFileSync(`${w.t}/d-top.qcow2`);
    await commitBoth(['-d', 'd-top.qcow2']);
    expect(Buffer.compare(readFileSync(`${w.t}/d-top.qcow2`), before)).toBe(0);
    expectSameTop('d-top.qcow2');
    expectSameData('d-mid.qcow2', 'd-top.qcow2');
  });

  it('-b base commits past the middle layer and leaves top and middle alone', async () => {
    chain('e-');
    const top = readFileSync(`${w.t}/e-top.qcow2`);
    const mid = readFileSync(`${w.t}/e-mid.qcow2`);
    await commitBoth(['-b', 'e-base.qcow2', 'e-top.qcow2']);
    expect(Buffer.compare(readFileSync(`${w.t}/e-top.qcow2`), top)).toBe(0);
    expect(Buffer.compare(readFileSync(`${w.t}/e-mid.qcow2`), mid)).toBe(0);
    expectSameData('e-base.qcow2', 'e-top.qcow2');
  });
});
