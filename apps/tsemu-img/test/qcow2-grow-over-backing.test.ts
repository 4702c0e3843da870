// Growing an image whose backing file reaches past its old end (QEMU's
// BDRV_REQ_ZERO_WRITE on truncate): the new range reads as zeroes, not as
// the backing file's data: zero clusters from the first cluster boundary,
// explicit zeroes before it. A v2 image cannot have zero clusters, so the
// grow fails and the image keeps its size. Files byte-identical to qemu-img's
// and qemu-io's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, sha256, SideBySide } from './harness.js';

const TSEMU_IO = new URL('../../../node_modules/.bin/tsemu-io', import.meta.url).pathname;
let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  w.both('qemu-img', ['create', '-q', '-f', 'qcow2', 'base.qcow2', '4M']);
  w.both('qemu-io', ['-c', 'write -P 0x41 0 4M', 'base.qcow2']);
});
afterAll(() => w.cleanup());

const bytes = (size: string): number => Number.parseInt(size, 10) * (size.endsWith('M') ? 1 << 20 : 1024);

function overlay(name: string, size: string, compat = '1.1'): void {
  w.both('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `compat=${compat}`, '-b', 'base.qcow2', '-F', 'qcow2', name, size]);
}

describe('grow over a longer backing file', () => {
  it.each([
    ['1M', '3M'], ['1000k', '2M'], ['1M', '8M'], ['4M', '6M'],
  ])('qemu-img resize %s -> %s', (from, to) => {
    const name = `g-${from}-${to}.qcow2`;
    overlay(name, from);
    const { qemu, tsemu } = w.compare(['resize', name, to]);
    expect(tsemu).toEqual(qemu);
    expect(sha256(`${w.t}/${name}`)).toBe(sha256(`${w.q}/${name}`));
    const read = run(TSEMU_IO, ['-c', `read -P 0 ${from} ${bytes(to) - bytes(from)}`, name], w.t);
    expect(read.stdout).not.toMatch(/Pattern verification failed/);
  });

  it('qemu-io truncate down then up: zeroes where the backing file has data', () => {
    overlay('t.qcow2', '4M');
    const args = ['-c', 'truncate 1536k', '-c', 'truncate 4M', '-c', 'read -P 0x41 0 1536k', '-c', 'read -P 0 1536k 2560k', 't.qcow2'];
    const q = run('qemu-io', args, w.q);
    const t = run(TSEMU_IO, args, w.t);
    const mask = (s: string): string => s.replace(/\d\d\.\d\d sec \(.*\)$/gm, 'TIME');
    expect({ ...t, stdout: mask(t.stdout) }).toEqual({ ...q, stdout: mask(q.stdout) });
    expect(t.stdout).not.toMatch(/Pattern verification failed/);
    expect(sha256(`${w.t}/t.qcow2`)).toBe(sha256(`${w.q}/t.qcow2`));
  });

  it('a v2 image fails as qemu-img does and keeps its size', () => {
    overlay('v2.qcow2', '1M', '0.10');
    const { qemu, tsemu } = w.compare(['resize', 'v2.qcow2', '2M']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(1);
    expect(sha256(`${w.t}/v2.qcow2`)).toBe(sha256(`${w.q}/v2.qcow2`));
  });
});
