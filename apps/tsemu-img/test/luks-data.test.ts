// luks volumes made by qemu-img, read and written with the key: for each AES
// mode and IV generator qemu-img makes, data qemu-io wrote reads back through
// tsemu-io, data tsemu-io wrote reads back through qemu-io, and convert to
// raw gives qemu-img's very file (the whole payload deciphered, also where
// nothing was written). Volumes tsemu-img creates (create, convert -O luks)
// open in qemu-img with the same layout. A wrong passphrase, a missing
// secret and a cipher node:crypto lacks are one line each, in qemu-img's
// words where it has them.
import { linkSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qemuImgRetried, qemuMap, run, sha256, SideBySide, TSEMU_IMG } from './harness.js';

const TSEMU_IO = TSEMU_IMG.replace(/tsemu-img$/, 'tsemu-io');
const SECRET = ['--object', 'secret,id=s0,data=abc'];
const WRONG = ['--object', 'secret,id=s0,data=abd'];
const opts = (name: string): string[] => ['--image-opts', `driver=luks,file.filename=${name},key-secret=s0`];

const VOLUMES: Record<string, string> = {
  'xts-plain64.luks': '',
  'xts-plain.luks': ',cipher-alg=aes-128,ivgen-alg=plain',
  'cbc-essiv.luks': ',cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=sha256,hash-alg=sha1',
  'cbc-plain64.luks': ',cipher-alg=aes-256,cipher-mode=cbc,ivgen-alg=plain64,hash-alg=sha512',
  'cbc-essiv-md5.luks': ',cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=md5',
  'ecb.luks': ',cipher-alg=aes-256,cipher-mode=ecb',
};

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  for (const [name, extra] of Object.entries(VOLUMES)) {
    qemuImgRetried(['create', '-q', '-f', 'luks', ...SECRET, '-o', `key-secret=s0,iter-time=10${extra}`, name, '2M'], w.q);
    const r = run('qemu-io', [...SECRET, ...opts(name), '-c', 'write -P 0x5a 0 64k', '-c', 'write -P 0x11 70000 3000'], w.q);
    if (r.code !== 0) throw new Error(r.stderr);
    linkSync(`${w.q}/${name}`, `${w.t}/${name}`);
  }
  qemuImgRetried(['create', '-q', '-f', 'luks', ...SECRET, '-o', 'key-secret=s0,iter-time=10,cipher-alg=twofish-256', 'twofish.luks', '1M'], w.q);
  linkSync(`${w.q}/twofish.luks`, `${w.t}/twofish.luks`);
});

afterAll(() => w.cleanup());

describe.each(Object.keys(VOLUMES))('%s', (name) => {
  it('what qemu-io wrote reads back through tsemu-io', () => {
    const r = run(TSEMU_IO, [...SECRET, ...opts(name), '-c', 'read -P 0x5a 0 64k', '-c', 'read -P 0x11 70000 3000'], w.t);
    expect(r.stdout.match(/^read \d+\/\d+ bytes/gm)).toHaveLength(2);
    expect(r.code).toBe(0);
  });

  it('convert to raw: qemu-img\'s very file', () => {
    const { qemu, tsemu, qemuSha, tsemuSha } = w.convertBoth(['convert', ...SECRET, ...opts(name), '-O', 'raw', `${name}.raw`]);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(0);
    expect(tsemuSha).toBe(qemuSha);
  });

  it('what tsemu-io writes (unaligned too) reads back through qemu-io', () => {
    const copy = `w-${name}`;
    run('cp', [name, copy], w.t);
    const wr = run(TSEMU_IO, [...SECRET, ...opts(copy), '-c', 'write -P 0x33 512 8k', '-c', 'write -P 0x44 100001 3001'], w.t);
    expect(wr.code).toBe(0);
    const rd = run('qemu-io', [...SECRET, ...opts(copy), '-c', 'read -P 0x33 512 8k', '-c', 'read -P 0x44 100001 3001', '-c', 'read -P 0x5a 8704 56832'], w.t);
    expect(rd.stderr).toBe('');
    expect(rd.stdout.match(/^read \d+\/\d+ bytes/gm)).toHaveLength(3);
  });
});

/** qemu-img info's JSON of a volume, without what differs between any two volumes (uuid, iteration counts). */
function layout(dir: string, name: string): unknown {
  const info = JSON.parse(run('qemu-img', ['info', '--output=json', name], dir).stdout) as {
    filename: string; 'actual-size': number; 'format-specific': { data: { uuid?: string; 'master-key-iters'?: number; slots: Array<{ iters?: number }> } };
  };
  const data = info['format-specific'].data;
  delete data.uuid;
  delete data['master-key-iters'];
  for (const slot of data.slots) delete slot.iters;
  return { ...info, 'actual-size': undefined };
}

describe('volumes tsemu-img creates', () => {
  it.each([
    ['new-default.luks', 'key-secret=s0,iter-time=10'],
    ['new-cbc.luks', 'key-secret=s0,iter-time=10,cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=essiv,hash-alg=sha1'],
    ['new-ecb.luks', 'key-secret=s0,iter-time=10,cipher-alg=aes-128,cipher-mode=ecb'],
  ])('create %s: the Formatting line and the layout of qemu-img\'s volume; qemu-io reads and writes it', (name, o) => {
    const { qemu, tsemu } = w.compareLuks(['create', ...SECRET, '-f', 'luks', '-o', o, name, '3M']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(0);
    expect(layout(w.t, name)).toEqual(layout(w.q, name));
    expect(statSync(`${w.t}/${name}`).size).toBe(statSync(`${w.q}/${name}`).size);
    const rw = run('qemu-io', [...SECRET, ...opts(name), '-c', 'write -P 0x66 4096 64k', '-c', 'read -P 0x66 4096 64k'], w.t);
    expect(rw.stderr).toBe('');
    expect(rw.stdout.match(/^(read|wrote) \d+\/\d+ bytes/gm)).toHaveLength(2);
    const wrong = run('qemu-io', ['--object', 'secret,id=s0,data=abd', ...opts(name), '-c', 'read 0 512'], w.t);
    expect(wrong.stderr).toMatch(/Invalid password, cannot unlock any keyslot/);
  });

  it('convert -O luks: qemu-img compare finds the source, with the zeroes written as qemu-img writes them', () => {
    const args = ['convert', ...SECRET, '-O', 'luks', '-o', 'key-secret=s0,iter-time=10', 'xts-plain64.luks.raw', 'back.luks'];
    run('cp', [`${w.q}/xts-plain64.luks.raw`, `${w.t}/`], '/');
    const { qemu, tsemu } = w.compareLuks(args);
    expect(tsemu).toEqual(qemu);
    const cmp = run('qemu-img', ['compare', ...SECRET, '--image-opts', 'driver=raw,file.filename=xts-plain64.luks.raw', 'driver=luks,key-secret=s0,file.filename=back.luks'], w.t);
    expect(cmp.stdout).toBe('Images are identical.\n');
    // Holes and data where qemu-img leaves them (st_blocks would also count the
    // file system's extent blocks, which vary with other files written meanwhile).
    expect(qemuMap(`${w.t}/back.luks`)).toBe(qemuMap(`${w.q}/back.luks`));
  });
});

describe('resize', () => {
  it.each([
    [['+1M']], [['512K']], [['--shrink', '512K']],
  ])('resize %j: as qemu-img (output, status, file size), and the data before the new end reads the same', (args) => {
    for (const dir of [w.q, w.t]) run('cp', ['xts-plain64.luks', 'r.luks'], dir);
    const { qemu, tsemu } = w.compare(['resize', ...SECRET, ...args.slice(0, -1), ...opts('r.luks'), args.at(-1)!]);
    expect(tsemu).toEqual(qemu);
    expect(statSync(`${w.t}/r.luks`).size).toBe(statSync(`${w.q}/r.luks`).size);
    if (tsemu.code === 0) {
      const r = run('qemu-io', [...SECRET, ...opts('r.luks'), '-c', 'read -P 0x5a 0 64k'], w.t);
      expect(r.stdout).toMatch(/^read 65536\/65536 bytes/);
    }
  });
});

describe('refusals', () => {
  it('a wrong passphrase: qemu-img\'s message and status', () => {
    const { qemu, tsemu } = w.compare(['convert', ...WRONG, ...opts('xts-plain64.luks'), '-O', 'raw', 'x.raw']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.stderr).toMatch(/Invalid password, cannot unlock any keyslot\n$/);
  });

  it('no such secret: qemu-img\'s message', () => {
    const { qemu, tsemu } = w.compare(['convert', ...opts('xts-plain64.luks'), '-O', 'raw', 'x.raw']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(1);
  });
});

describe('ciphers node:crypto lacks', () => {
  it('twofish (not in node:crypto, block-luks\' own cipher): convert to raw is qemu-img\'s very file', () => {
    const { qemu, tsemu, qemuSha, tsemuSha } = w.convertBoth(['convert', ...SECRET, ...opts('twofish.luks'), '-O', 'raw', 'tf.raw']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(0);
    expect(tsemuSha).toBe(qemuSha);
  });
});
