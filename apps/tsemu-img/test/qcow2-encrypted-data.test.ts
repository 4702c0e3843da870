// Encrypted qcow2 images made and written by qemu-img / qemu-io, read by
// tsemu with the key: LUKS (IVs from host sectors; xts-plain64 and
// cbc-essiv) and the old AES scheme (IVs from guest sectors), with a plain
// backing file under one of them. Reads give qemu-io's patterns, convert to
// raw gives qemu-img's very file, map/compare/check answer as qemu-img does.
// Writing stays refused in one line; a wrong LUKS passphrase gets qemu-img's words.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qemuImgRetried, run, SideBySide, TSEMU_IMG } from './harness.js';

const TSEMU_IO = TSEMU_IMG.replace(/tsemu-img$/, 'tsemu-io');
const SECRET = ['--object', 'secret,id=s0,data=abc'];
const opts = (name: string): string[] => ['--image-opts', `driver=qcow2,file.filename=${name},encrypt.key-secret=s0`];
const WRITES = ['-c', 'write -P 0x5a 0 64k', '-c', 'write -P 0x77 135168 4096', '-c', 'write -P 0x33 1000000 70000'];
const READS = ['-c', 'read -P 0x5a 0 64k', '-c', 'read -P 0x77 135168 4096', '-c', 'read -P 0x33 1000000 70000', '-c', 'read -P 0 131072 4096'];

const IMAGES: Record<string, string[]> = {
  'luks.qcow2': ['-o', 'encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10'],
  'luks-cbc.qcow2': ['-o', 'encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10,encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256'],
  'aes.qcow2': ['-o', 'encrypt.format=aes,encrypt.key-secret=s0'],
  'over-base.qcow2': ['-o', 'encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10,cluster_size=4096', '-b', 'base.qcow2', '-F', 'qcow2'],
};

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  for (const dir of [w.q, w.t]) {
    const b = run('qemu-img', ['create', '-q', '-f', 'qcow2', 'base.qcow2', '2M'], dir);
    const r = run('qemu-io', ['-c', 'write -P 0x11 0 2M', 'base.qcow2'], dir);
    if (b.code !== 0 || r.code !== 0) throw new Error(b.stderr + r.stderr);
  }
  for (const [name, args] of Object.entries(IMAGES)) {
    for (const dir of [w.q, w.t]) {
      qemuImgRetried(['create', '-q', ...SECRET, '-f', 'qcow2', ...args, name, '2M'], dir);
      const r = run('qemu-io', [...SECRET, ...opts(name), ...WRITES], dir);
      if (r.code !== 0) throw new Error(`${name}: ${r.stderr}${r.stdout}`);
    }
  }
});

afterAll(() => w.cleanup());

describe.each(Object.keys(IMAGES))('%s', (name) => {
  it('tsemu-io -r reads what qemu-io wrote (and zeroes or the backing file elsewhere)', () => {
    const backing = name.startsWith('over') ? 0x11 : 0;
    const r = run(TSEMU_IO, ['-r', ...SECRET, ...opts(name), ...READS.slice(0, 6), '-c', `read -P ${backing} 131072 4096`], w.t);
    expect(r.stderr).toBe('');
    expect(r.stdout.match(/^read \d+\/\d+ bytes/gm)).toHaveLength(4);
  });

  it('convert to raw: qemu-img\'s very file', () => {
    const { qemu, tsemu, qemuSha, tsemuSha } = w.convertBoth(['convert', ...SECRET, ...opts(name), '-O', 'raw', 'out.raw']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(0);
    expect(tsemuSha).toBe(qemuSha);
  });

  it('map (human and JSON) and check as qemu-img, on the same file', () => {
    for (const args of [['map', '--output=json'], ['map'], ['check']]) {
      const all = [...args, ...SECRET, ...opts(name)];
      expect(w.tsemu(all)).toEqual(run('qemu-img', all, w.t));
    }
  });
});

describe('refusals', () => {
  it('a read-write open: one line, as for extended L2 images', () => {
    const r = run(TSEMU_IO, [...SECRET, ...opts('luks.qcow2'), '-c', 'read 0 512'], w.t);
    expect(r).toEqual({ stdout: '', stderr: 'qemu-io: can\'t open: qcow2: writing encrypted images is not supported yet (open read-only)\n', code: 1 });
  });

  it('a wrong passphrase: qemu-img\'s message and status', () => {
    const args = ['convert', '--object', 'secret,id=s0,data=abd', ...opts('luks.qcow2'), '-O', 'raw', 'x.raw'];
    const { qemu, tsemu } = w.compare(args);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.stderr).toMatch(/Invalid password, cannot unlock any keyslot\n$/);
  });

  it('no such secret: qemu-img\'s message', () => {
    const { qemu, tsemu } = w.compare(['convert', ...opts('luks.qcow2'), '-O', 'raw', 'x.raw']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(1);
  });
});
