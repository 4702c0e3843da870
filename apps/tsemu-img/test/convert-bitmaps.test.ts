// convert --bitmaps as qemu-img 7.2 decides it: a qcow2 source without
// bitmaps converts (nothing to copy), a raw target is refused after it was
// created, and a source with bitmaps is refused as not supported yet (tsemu
// does not read persistent bitmaps).
import { existsSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide, sha256 } from './harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  w.both('qemu-img', ['create', '-q', '-f', 'qcow2', 'a.qcow2', '4M']);
  w.both('qemu-io', ['-c', 'write -P 1 0 1M', 'a.qcow2']);
  w.both('qemu-img', ['create', '-q', '-f', 'qcow2', 'bm.qcow2', '4M']);
  w.both('qemu-img', ['bitmap', '--add', 'bm.qcow2', 'b0']);
});

afterAll(() => w.cleanup());

describe('convert --bitmaps', () => {
  it('qcow2 without bitmaps to qcow2: converts as qemu-img does', () => {
    const { qemu, tsemu } = w.compare(['convert', '--bitmaps', '-O', 'qcow2', 'a.qcow2', 'out.qcow2']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(0);
    expect(sha256(`${w.t}/out.qcow2`)).toBe(sha256(`${w.q}/out.qcow2`));
  });

  it('a raw target: refused once created, as qemu-img', () => {
    for (const d of [w.q, w.t]) rmSync(`${d}/out.raw`, { force: true });
    const { qemu, tsemu } = w.compare(['convert', '--bitmaps', '-O', 'raw', 'a.qcow2', 'out.raw']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.stderr).toBe("qemu-img: Format driver 'raw' does not support bitmaps\n");
    expect(existsSync(`${w.t}/out.raw`)).toBe(existsSync(`${w.q}/out.raw`));
  });

  it('a source with bitmaps: one clear line, nothing written', () => {
    const r = w.tsemu(['convert', '--bitmaps', '-O', 'qcow2', 'bm.qcow2', 'copy.qcow2']);
    expect(r).toEqual({ stdout: '', stderr: 'qemu-img: Copying persistent bitmaps is not supported yet\n', code: 1 });
    expect(existsSync(`${w.t}/copy.qcow2`)).toBe(false);
  });
});
