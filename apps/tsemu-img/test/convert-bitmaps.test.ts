// convert --bitmaps as qemu-img 7.2 does it: a qcow2 source without bitmaps
// converts (nothing to copy), a raw target is refused after it was created,
// a source's bitmaps (contents, granularity, enabled state) are copied into
// the new qcow2 byte for byte as qemu-img writes them, an inconsistent
// (in-use) bitmap is refused before the target exists or skipped with
// --skip-broken-bitmaps; `measure` reports their "bitmaps size".
import { existsSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, SideBySide, sha256 } from './harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  w.both('qemu-img', ['create', '-q', '-f', 'qcow2', 'a.qcow2', '4M']);
  w.both('qemu-io', ['-c', 'write -P 1 0 1M', 'a.qcow2']);
  w.both('qemu-img', ['create', '-q', '-f', 'qcow2', 'bm.qcow2', '4M']);
  w.both('qemu-img', ['bitmap', '--add', 'bm.qcow2', 'b0']);
  w.both('qemu-io', ['-c', 'write 0 64k', '-c', 'write 3M 512', 'bm.qcow2']);
  w.both('qemu-img', ['bitmap', '--add', '-g', '1M', '--disable', 'bm.qcow2', 'b1']);
  w.both('qemu-img', ['bitmap', '--merge', 'b0', 'bm.qcow2', 'b1']);
  w.both('qemu-img', ['bitmap', '--add', '-g', '512', 'bm.qcow2', 'b2']);
  // b0 in use: what a process killed while writing leaves.
  w.both('cp', ['bm.qcow2', 'inuse.qcow2']);
  for (const d of [w.q, w.t]) expect(run('qemu-io', ['-c', 'sigraise 9', 'inuse.qcow2'], d).code).not.toBe(0);
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

  it('a source with bitmaps: copied, the file byte-identical to qemu-img\'s', () => {
    for (const args of [['-O', 'qcow2'], ['-O', 'qcow2', '-o', 'cluster_size=4k'], ['-c', '-O', 'qcow2']]) {
      for (const d of [w.q, w.t]) rmSync(`${d}/copy.qcow2`, { force: true });
      const { qemu, tsemu } = w.compare(['convert', '--bitmaps', ...args, 'bm.qcow2', 'copy.qcow2']);
      expect(tsemu).toEqual(qemu);
      expect(sha256(`${w.t}/copy.qcow2`)).toBe(sha256(`${w.q}/copy.qcow2`));
    }
  });

  it('an in-use source bitmap: refused before the target exists, or skipped with a warning', () => {
    for (const d of [w.q, w.t]) rmSync(`${d}/skip.qcow2`, { force: true });
    const refused = w.compare(['convert', '--bitmaps', '-O', 'qcow2', 'inuse.qcow2', 'skip.qcow2']);
    expect(refused.tsemu).toEqual(refused.qemu);
    expect(refused.tsemu.stderr).toContain("Cannot copy inconsistent bitmap 'b2'");
    expect(existsSync(`${w.t}/skip.qcow2`)).toBe(false);
    const skipped = w.compare(['convert', '--bitmaps', '--skip-broken-bitmaps', '-O', 'qcow2', 'inuse.qcow2', 'skip.qcow2']);
    expect(skipped.tsemu).toEqual(skipped.qemu);
    expect(sha256(`${w.t}/skip.qcow2`)).toBe(sha256(`${w.q}/skip.qcow2`));
    const alone = w.compare(['convert', '--skip-broken-bitmaps', '-O', 'qcow2', 'inuse.qcow2', 'x.qcow2']);
    expect(alone.tsemu).toEqual(alone.qemu);
  });

  it('measure: "bitmaps size" at the output\'s cluster size, in-use bitmaps counted', () => {
    for (const args of [['bm.qcow2'], ['-o', 'cluster_size=4k', 'bm.qcow2'], ['--output=json', 'inuse.qcow2'], ['a.qcow2']]) {
      const { qemu, tsemu } = w.compare(['measure', '-O', 'qcow2', ...args]);
      expect(tsemu).toEqual(qemu);
    }
    expect(w.tsemu(['measure', '-O', 'qcow2', 'bm.qcow2']).stdout).toMatch(/bitmaps size: [1-9]/);
  });
});
