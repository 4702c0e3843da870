// Block status of qcow2 data clusters whose host range is a hole, against
// qemu-img 7.2: qcow2 asks its file only when it detects metadata
// preallocation (more clusters referenced than the file really allocates),
// so a partly written data cluster is one data extent in a plain image, and
// data + zero where the file is sparse (preallocation=metadata, or a sparse
// copy of the same image). map, convert (-p steps, what is written) and
// compare all follow it; convert counts -p steps over the whole backing
// chain (-B / -o backing_file: the top layer only).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide, type RunResult } from './harness.js';
import { must, spawn, tsemuImg } from './qcow2-harness.js';

let w: SideBySide;

function both(bin: string, args: string[]): void {
  must(bin, args, w.q);
  must(bin, args, w.t);
}

async function expectSame(args: string[]): Promise<RunResult> {
  const qemu = spawn('qemu-img', args, w.q);
  const tsemu = await tsemuImg(args, w.t);
  expect(tsemu, args.join(' ')).toEqual(qemu);
  return qemu;
}

function qmap(dir: string, file: string): string {
  return spawn('qemu-img', ['map', '--output=json', file], dir).stdout;
}

beforeAll(() => {
  w = new SideBySide();
  both('qemu-img', ['create', '-f', 'qcow2', 'base.qcow2', '4M']);
  both('qemu-io', ['-c', 'write -P 0x61 0 1M', 'base.qcow2']);
  both('qemu-img', ['create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'img.qcow2', '4M']);
  both('qemu-io', ['-c', 'write -P 0x62 1M 4k', 'img.qcow2']);
  // Same image, metadata clusters made sparse: now the detection fires.
  both('cp', ['--sparse=always', 'img.qcow2', 'sp.qcow2']);
  both('qemu-img', ['create', '-f', 'qcow2', '-o', 'preallocation=metadata', 'pm.qcow2', '4M']);
  both('qemu-io', ['-c', 'write -P 0x62 1M 4k', 'pm.qcow2']);
  // Three layers, the middle one over a raw base with a hole.
  both('qemu-img', ['create', '-f', 'raw', 'rb.raw', '4M']);
  both('qemu-io', ['-f', 'raw', '-c', 'write -P 0x61 0 1M', '-c', 'write -P 0x63 3M 512k', 'rb.raw']);
  both('qemu-img', ['create', '-f', 'qcow2', '-b', 'rb.raw', '-F', 'raw', 'ri.qcow2', '4M']);
  both('qemu-io', ['-c', 'write -P 0x62 1M 4k', '-c', 'write -P 0x64 2M 100k', 'ri.qcow2']);
  both('qemu-img', ['create', '-f', 'qcow2', '-b', 'img.qcow2', '-F', 'qcow2', 'i3.qcow2', '8M']);
  both('qemu-io', ['-c', 'write -P 0x65 3M 64k', 'i3.qcow2']);
});

afterAll(() => w.cleanup());

describe('data clusters over host holes', () => {
  it('map: one data extent unless metadata preallocation is detected', async () => {
    for (const f of ['img.qcow2', 'sp.qcow2', 'pm.qcow2', 'ri.qcow2', 'i3.qcow2']) {
      await expectSame(['map', '--output=json', f]);
      await expectSame(['map', f]);
    }
    // The fixtures really cover both sides of the detection.
    expect(qmap(w.q, 'img.qcow2')).toContain('"start": 1048576, "length": 65536, "depth": 0, "present": true, "zero": false, "data": true');
    expect(qmap(w.q, 'sp.qcow2')).toContain('"start": 1052672, "length": 61440, "depth": 0, "present": true, "zero": true, "data": true');
  });

  it('compare (also -s) sees the same status', async () => {
    await expectSame(['compare', 'img.qcow2', 'sp.qcow2']);
    await expectSame(['compare', '-s', 'img.qcow2', 'sp.qcow2']);
    await expectSame(['compare', '-s', 'sp.qcow2', 'img.qcow2']);
    await expectSame(['compare', '-s', 'pm.qcow2', 'ri.qcow2']);
  });

  const convertCases: string[][] = [];
  for (const src of ['img.qcow2', 'sp.qcow2', 'pm.qcow2', 'ri.qcow2', 'i3.qcow2']) {
    convertCases.push(['convert', '-p', '-O', 'raw', src]);
    convertCases.push(['convert', '-p', '-O', 'qcow2', src]);
    convertCases.push(['convert', '-p', '-S', '0', '-O', 'raw', src]);
    convertCases.push(['convert', '-p', '-c', '-O', 'qcow2', src]);
  }
  convertCases.push(['convert', '-p', '-O', 'qcow2', '-B', 'base.qcow2', '-F', 'qcow2', 'img.qcow2']);
  convertCases.push(['convert', '-p', '-O', 'qcow2', '-o', 'backing_file=base.qcow2,backing_fmt=qcow2', 'sp.qcow2']);
  convertCases.push(['convert', '-p', '-O', 'qcow2', '-B', 'img.qcow2', '-F', 'qcow2', 'i3.qcow2']);
  convertCases.push(['convert', '-p', '-O', 'qcow2', '-B', 'rb.raw', '-F', 'raw', 'ri.qcow2']);
  it.each(convertCases.map((c, i) => [[...c, `out${i}`]]))('%j: same -p steps and image', async (args) => {
    await expectSame(args);
    const out = args[args.length - 1]!;
    expect(spawn('qemu-img', ['compare', `${w.q}/${out}`, `${w.t}/${out}`], w.t).code).toBe(0);
    if (!args.includes('-c')) expect(qmap(w.t, out)).toEqual(qmap(w.q, out));
  });

  it('convert -n (with -B, -S 0, --target-is-zero) over a written target', async () => {
    let i = 0;
    for (const mode of [[], ['-B', 'base.qcow2'], ['-S', '0'], ['--target-is-zero']]) {
      for (const src of ['img.qcow2', 'sp.qcow2', 'pm.qcow2', 'i3.qcow2']) {
        const out = `n${i++}.qcow2`;
        both('qemu-img', ['create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', out, '8M']);
        both('qemu-io', ['-c', 'write -P 9 0 8M', out]);
        await expectSame(['convert', '-p', '-n', ...mode, src, out]);
        expect(spawn('qemu-img', ['compare', `${w.q}/${out}`, `${w.t}/${out}`], w.t).code).toBe(0);
        expect(qmap(w.t, out)).toEqual(qmap(w.q, out));
      }
    }
  });

  it('convert errors after the 0 line: -B without a format, --target-is-zero with -B, missing source', async () => {
    await expectSame(['convert', '-p', '-O', 'qcow2', '-B', 'base.qcow2', 'img.qcow2', 'e1.qcow2']);
    await expectSame(['convert', '-p', '-O', 'qcow2', '-o', 'backing_file=base.qcow2', 'img.qcow2', 'e2.qcow2']);
    await expectSame(['convert', '-p', '-O', 'raw', '-B', 'base.qcow2', 'img.qcow2', 'e3.raw']);
    await expectSame(['convert', '-p', '-O', 'raw', 'missing.qcow2', 'e4.raw']);
    await expectSame(['convert', '-p', '-O', 'qcow2', '-B', 'base.qcow2', '-F', 'qcow2', 'img.qcow2', 'sp.qcow2', 'e5.qcow2']);
    both('qemu-img', ['create', '-f', 'qcow2', 'e6.qcow2', '4M']);
    await expectSame(['convert', '-p', '-n', '-B', 'base.qcow2', '--target-is-zero', 'img.qcow2', 'e6.qcow2']);
    for (const f of ['e1.qcow2', 'e2.qcow2', 'e3.raw', 'e4.raw', 'e5.qcow2']) {
      expect(spawn('ls', [f], w.t).code, f).toBe(spawn('ls', [f], w.q).code);
    }
  });
});
