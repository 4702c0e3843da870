// tsemu-img bitmap against qemu-img 7.2: a sequence of operations (add with
// granularity / disabled, merge from the image itself and from another file,
// enable, disable, clear, remove, several per call) leaves byte-identical
// images; bad input gets the same lines and exit status. QEMU names its
// internal node ("#block123", a counter) in two messages: compared with the
// number taken out.
import { copyFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide, sha256 } from './harness.js';
import { must, spawn, tsemuImg } from './qcow2-harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  for (const d of [w.q, w.t]) {
    must('qemu-img', ['create', '-q', '-f', 'qcow2', 'a.qcow2', '64M'], d);
    must('qemu-io', ['-c', 'write 0 1M', 'a.qcow2'], d);
    must('qemu-img', ['create', '-q', '-f', 'qcow2', 's.qcow2', '64M'], d);
    must('qemu-img', ['bitmap', '--add', 's.qcow2', 's0'], d);
    must('qemu-io', ['-c', 'write 5M 64k', 's.qcow2'], d);
    must('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'compat=0.10', 'v2.qcow2', '1M'], d);
    must('qemu-img', ['create', '-q', '-f', 'raw', 'r.raw', '1M'], d);
  }
});

afterAll(() => w.cleanup());

const nodeName = (s: string): string => s.replace(/#block\d+/g, '#blockN');

async function same(args: string[]): Promise<void> {
  const qemu = spawn('qemu-img', args, w.q);
  const tsemu = await tsemuImg(args, w.t);
  expect({ ...tsemu, stderr: nodeName(tsemu.stderr) }).toEqual({ ...qemu, stderr: nodeName(qemu.stderr) });
}

describe('tsemu-img bitmap', () => {
  it('a sequence of operations: the image qemu-img leaves, byte for byte, after every step', async () => {
    const steps = [
      ['--add', 'a.qcow2', 'b0'],
      ['--add', '-g', '128k', '--disable', 'a.qcow2', 'b1'],
      ['--merge', 's0', '-b', 's.qcow2', 'a.qcow2', 'b1'],
      ['--add', '--granularity', '512', 'a.qcow2', 'b2'],
      ['--remove', 'a.qcow2', 'b0'],
      ['--enable', '--clear', 'a.qcow2', 'b1'],
      ['--add', '--merge', 'b1', 'a.qcow2', 'b3'],
      ['--merge', 's0', '--source-file', 's.qcow2', '--source-format', 'qcow2', '--disable', 'a.qcow2', 'b2'],
      ['--remove', '--add', 'a.qcow2', 'b2'],
      ['--object', 'secret,id=sec0,data=x', '-f', 'qcow2', '--add', '-g', '0', 'a.qcow2', 'b4'],
      ['--image-opts', '--add', 'driver=qcow2,file.filename=a.qcow2', 'b5'],
    ];
    for (const s of steps) {
      await same(['bitmap', ...s]);
      expect(sha256(`${w.t}/a.qcow2`), s.join(' ')).toBe(sha256(`${w.q}/a.qcow2`));
    }
    // Same info but for "disk size": QEMU punches the freed data clusters, tsemu zeroes them in place.
    const info = (s: string): string => s.replace(/disk size: .*\n/, '');
    expect(info((await tsemuImg(['info', 'a.qcow2'], w.t)).stdout)).toBe(info(spawn('qemu-img', ['info', 'a.qcow2'], w.q).stdout));
    for (const name of ['b1', 'b3', 'b2', 'b4', 'b5']) await same(['bitmap', '--remove', 'a.qcow2', name]);
    expect(sha256(`${w.t}/a.qcow2`)).toBe(sha256(`${w.q}/a.qcow2`));
    await same(['check', 'a.qcow2']);
  });

  it('bad input: the same messages and exit status, the image untouched where qemu-img leaves it so', async () => {
    for (const d of [w.q, w.t]) copyFileSync(`${d}/s.qcow2`, `${d}/bad.qcow2`);
    const cases = [
      [], ['bad.qcow2', 'b0'], ['--add', 'bad.qcow2'], ['--add', 'bad.qcow2', 'b0', 'extra'],
      ['--add', 'bad.qcow2', 's0'], ['--remove', 'bad.qcow2', 'nob'], ['--clear', 'bad.qcow2', 'nob'],
      ['--enable', 'bad.qcow2', 'nob'], ['--disable', 'bad.qcow2', 'nob'], ['--merge', 'x', 'bad.qcow2', 'nob'],
      ['--merge', 'nob', 'bad.qcow2', 's0'], ['--merge', 's0', '-b', 's.qcow2', '-F', 'raw', 'bad.qcow2', 's0'],
      ['--merge', 's0', '-b', 'nofile', 'bad.qcow2', 's0'], ['--merge', 's0', '-b', 'bad.qcow2', 'bad.qcow2', 's0'],
      ['--add', '-g', '256', 'bad.qcow2', 'g'], ['--add', '-g', '3000', 'bad.qcow2', 'g'], ['--add', '-g', '4G', 'bad.qcow2', 'g'],
      ['--add', '-g', '1x', 'bad.qcow2', 'g'], ['--add', '-g', '-1', 'bad.qcow2', 'g'], ['-g', '64k', 'bad.qcow2', 'g'],
      ['--disable', '-g', '64k', 'bad.qcow2', 's0'], ['--remove', '-b', 'x', 'bad.qcow2', 's0'],
      ['--merge', 'a', '-F', 'raw', 'bad.qcow2', 's0'], ['--add', 'bad.qcow2', ''], ['--add', 'bad.qcow2', 'n'.repeat(1024)],
      ['--add', 'v2.qcow2', 'b0'], ['--add', 'nofile.qcow2', 'b0'], ['--add', '-f', 'raw', 'bad.qcow2', 'b0'],
      ['--clear', 'r.raw', 'x'], ['--add', 'r.raw', 'x'], ['--image-opts', '-f', 'qcow2', '--add', 'driver=qcow2,file.filename=bad.qcow2', 'x'],
      ['--object', 'bogus', '--add', 'bad.qcow2', 'x'], ['--bogus', 'bad.qcow2', 'x'], ['-q', '--add', 'bad.qcow2', 'x'],
      ['--clear', '--remove', '--add', 'bad.qcow2', 'b7'], ['--add', '--add', 'bad.qcow2', 'b8'],
    ];
    for (const c of cases) {
      await same(['bitmap', ...c]);
      expect(sha256(`${w.t}/bad.qcow2`), c.join(' ')).toBe(sha256(`${w.q}/bad.qcow2`));
    }
  });

  it('qemu-img --help lists the bitmap command', async () => {
    const r = await tsemuImg(['--help'], w.t);
    expect(r.stdout).toContain('  bitmap (--merge SOURCE | --add | --remove | --clear | --enable | --disable)... [-b source_file [-F source_fmt]]');
  });
});
