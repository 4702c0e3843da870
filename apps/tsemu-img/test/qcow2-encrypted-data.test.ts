// Encrypted qcow2 images made and written by qemu-img / qemu-io, read and
// written by tsemu with the key: LUKS (IVs from host sectors; xts-plain64
// and cbc-essiv) and the old AES scheme (IVs from guest sectors), with a
// plain backing file under one of them. Reads give qemu-io's patterns,
// convert to raw gives qemu-img's very file, map/check answer as qemu-img
// does; the same writes through tsemu-io and qemu-io leave images qemu-img
// reads alike. A wrong LUKS passphrase gets qemu-img's words.
import { statSync } from 'node:fs';
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

describe.each(Object.keys(IMAGES))('%s, written', (name) => {
  it('the same writes through tsemu-io and qemu-io: equal data and map, qemu-img check clean', () => {
    const cmds = ['-c', 'write -P 0x21 8192 20000', '-c', 'write -z 40960 9000', '-c', 'write -P 0x22 0 64k', '-c', 'discard 131072 65536',
      '-c', 'write -P 0x23 1000448 512', '-c', 'write -P 0x24 1500000 100000'];
    for (const dir of [w.q, w.t]) run('cp', [name, `w-${name}`], dir);
    const t = run(TSEMU_IO, [...SECRET, ...opts(`w-${name}`), ...cmds], w.t);
    expect(t.stderr).toBe('');
    expect(t.code).toBe(0);
    expect(run('qemu-io', [...SECRET, ...opts(`w-${name}`), ...cmds], w.q).code).toBe(0);
    const raw = (dir: string): string => {
      run('qemu-img', ['convert', ...SECRET, ...opts(`w-${name}`), '-O', 'raw', 'w.raw'], dir);
      return run('sha256sum', ['w.raw'], dir).stdout;
    };
    expect(raw(w.t)).toBe(raw(w.q));
    const map = (dir: string): string => run('qemu-img', ['map', '--output=json', ...SECRET, ...opts(`w-${name}`)], dir).stdout;
    expect(map(w.t)).toBe(map(w.q));
    expect(run('qemu-img', ['check', ...SECRET, ...opts(`w-${name}`)], w.t).stdout).toMatch(/^No errors were found on the image\./);
  });
});

/** qemu-img info's JSON without what differs between any two images made alike (uuid, iteration counts, disk usage). */
function layout(dir: string, name: string): string {
  const info = JSON.parse(run('qemu-img', ['info', '--output=json', name], dir).stdout) as Record<string, unknown>;
  delete info['actual-size'];
  return JSON.stringify(info).replace(/"(uuid|iters|master-key-iters)":("[^"]*"|\d+),?/g, '');
}

describe('encrypted images tsemu-img makes', () => {
  it.each([
    ['c-luks.qcow2', 'encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10'],
    ['c-luks4k.qcow2', 'encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10,cluster_size=4096,encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv'],
    ['c-aes.qcow2', 'encrypt.format=aes,encrypt.key-secret=s0'],
  ])('create %s: the layout, size and disk usage of qemu-img\'s; qemu-io writes and reads it, check is clean', (name, o) => {
    const { qemu, tsemu } = w.compareLuks(['create', ...SECRET, '-f', 'qcow2', '-o', o, name, '2M']);
    expect(tsemu).toEqual(qemu);
    expect(layout(w.t, name)).toBe(layout(w.q, name));
    expect(statSync(`${w.t}/${name}`).size).toBe(statSync(`${w.q}/${name}`).size);
    expect(statSync(`${w.t}/${name}`).blocks).toBe(statSync(`${w.q}/${name}`).blocks);
    const rw = run('qemu-io', [...SECRET, ...opts(name), '-c', 'write -P 0x41 5000 70000', '-c', 'read -P 0x41 5000 70000'], w.t);
    expect(rw.stdout.match(/^(read|wrote) \d+\/\d+ bytes/gm)).toHaveLength(2);
    expect(run('qemu-img', ['check', ...SECRET, ...opts(name)], w.t).stdout).toMatch(/^No errors were found on the image\./);
  });

  it('convert -O qcow2 -o encrypt.format=luks: qemu-img compare finds the source, map as qemu-img\'s', () => {
    const args = ['convert', ...SECRET, '-O', 'qcow2', '-o', 'encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10', 'luks.qcow2.raw', 'enc.qcow2'];
    run('cp', [`${w.q}/out.raw`, `${w.q}/luks.qcow2.raw`], '/');
    run('cp', [`${w.q}/out.raw`, `${w.t}/luks.qcow2.raw`], '/');
    const { qemu, tsemu } = w.compareLuks(args);
    expect(tsemu).toEqual(qemu);
    const cmp = run('qemu-img', ['compare', ...SECRET, '--image-opts', 'driver=raw,file.filename=luks.qcow2.raw', `driver=qcow2,encrypt.key-secret=s0,file.filename=enc.qcow2`], w.t);
    expect(cmp.stdout).toBe('Images are identical.\n');
    const map = (dir: string): string => run('qemu-img', ['map', '--output=json', ...SECRET, ...opts('enc.qcow2')], dir).stdout;
    expect(map(w.t)).toBe(map(w.q));
  });

  it.each([
    [['-o', 'encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10', '--size', '1G']],
    [['-o', 'encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10,cluster_size=4096,encrypt.cipher-alg=aes-128', '--size', '3M']],
    [['-o', 'encrypt.format=aes,encrypt.key-secret=s0', '--size', '1G']],
  ])('measure -O qcow2 %j: as qemu-img (a LUKS header adds its clusters)', (args) => {
    const { qemu, tsemu } = w.compareLuks(['measure', ...SECRET, '-O', 'qcow2', ...args]);
    expect(tsemu).toEqual(qemu);
  });
});

describe('refusals', () => {
  it('compressed writes: one line (qemu-io would store them)', () => {
    const r = run(TSEMU_IO, [...SECRET, ...opts('luks.qcow2'), '-c', 'write -c -P 1 1M 64k'], w.t);
    expect(r.stdout).toBe('write failed: Operation not supported\n');
  });

  it('a wrong passphrase: qemu-img\'s message and status', () => {
    const args = ['convert', '--object', 'secret,id=s0,data=abd', ...opts('luks.qcow2'), '-O', 'raw', 'x.raw'];
    const { qemu, tsemu } = w.compareLuks(args);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.stderr).toMatch(/Invalid password, cannot unlock any keyslot\n$/);
  });

  it('no such secret: qemu-img\'s message', () => {
    const { qemu, tsemu } = w.compare(['convert', ...opts('luks.qcow2'), '-O', 'raw', 'x.raw']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(1);
  });
});
