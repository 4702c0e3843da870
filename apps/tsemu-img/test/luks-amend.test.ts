// qemu-img amend on LUKS key slots, of a luks volume (`state=...`) and of a
// LUKS-encrypted qcow2 image (`encrypt.state=...`): every refusal in
// qemu-img's words and status, and the same sequence of additions and
// erasures (by slot, by passphrase, --force) leaves the same slots in both
// tools' images, opening with the same passphrases, the data intact.
import { copyFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qemuImgRetried, run, SideBySide } from './harness.js';

const SECRETS = ['--object', 'secret,id=s0,data=abc', '--object', 'secret,id=s1,data=def', '--object', 'secret,id=s2,data=ghi'];
const luksOpts = (name: string, key = 's0'): string => `driver=luks,key-secret=${key},file.filename=${name}`;
const qcowOpts = (name: string, key = 's0'): string => `driver=qcow2,encrypt.key-secret=${key},file.filename=${name}`;

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  qemuImgRetried(['create', '-q', '-f', 'luks', ...SECRETS, '-o', 'key-secret=s0,iter-time=10', 'v.luks', '1M'], w.q);
  qemuImgRetried(['create', '-q', '-f', 'qcow2', ...SECRETS, '-o', 'encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10', 'luks.qcow2', '1M'], w.q);
  qemuImgRetried(['create', '-q', '-f', 'qcow2', ...SECRETS, '-o', 'encrypt.format=aes,encrypt.key-secret=s0', 'aes.qcow2', '1M'], w.q);
  qemuImgRetried(['create', '-q', '-f', 'qcow2', 'plain.qcow2', '1M'], w.q);
  for (const [name, o] of [['v.luks', luksOpts('v.luks')], ['luks.qcow2', qcowOpts('luks.qcow2')]] as const) {
    const r = run('qemu-io', [...SECRETS, '--image-opts', o, '-c', 'write -P 0x5c 0 64k'], w.q);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  for (const name of ['v.luks', 'luks.qcow2', 'aes.qcow2', 'plain.qcow2']) copyFileSync(`${w.q}/${name}`, `${w.t}/${name}`);
});

afterAll(() => w.cleanup());

/** A fresh copy of `name` on both sides, named `as`. */
function fresh(name: string, as: string): void {
  for (const dir of [w.q, w.t]) copyFileSync(`${dir}/${name}`, `${dir}/${as}`);
}

/** qemu-img info of an image without what differs between two images (name, iteration counts). */
function slots(dir: string, name: string): string {
  return run('qemu-img', ['info', name], dir).stdout.split('\n').filter((l) => !/^(image|disk size):|iters:/.test(l)).join('\n');
}

/** Whether each of s0, s1, s2 opens the image, and the data read with the one that does. */
function opens(dir: string, image: (key: string) => string): string[] {
  return ['s0', 's1', 's2'].map((k) => {
    const r = run('qemu-io', [...SECRETS, '--image-opts', image(k), '-c', 'read -P 0x5c 0 64k'], dir);
    return `${k}: ${r.code === 0 ? r.stdout.split('\n')[0] : r.stderr.trim()}`;
  });
}

/** Amends `name` through both tools, step by step (each with the key secret that opens it then); after each, the same output and slots. */
function amendSteps(name: string, image: (name: string, key: string) => string, steps: [string, string[]][]): void {
  for (const [key, args] of steps) {
    const { qemu, tsemu } = w.compareLuks(['amend', ...SECRETS, ...args, '--image-opts', image(name, key)]);
    expect(tsemu, args.join(' ')).toEqual(qemu);
    expect(slots(w.t, name), args.join(' ')).toBe(slots(w.q, name));
  }
}

describe('luks volume', () => {
  it.each([
    ['state=active'], ['state=active,new-secret=s1,old-secret=s0'], ['state=active,new-secret=s1,keyslot=9'],
    ['state=active,new-secret=s1,keyslot=-1'], ['state=active,new-secret=s1,keyslot=0'], ['new-secret=s1'],
    ['state=inactive,new-secret=s1'], ['state=inactive,iter-time=10'], ['state=inactive,keyslot=3'], ['state=inactive,keyslot=0'],
    ['state=inactive'], ['state=inactive,old-secret=s1'], ['state=inactive,old-secret=s0'], ['state=bogus'], ['keyslot=abc,state=active'],
    ['state=active,new-secret=nope'], ['state=inactive,keyslot=9'], ['state=inactive,old-secret=nope'], ['state=active,new-secret=s1,iter-time=abc'],
    ['state=inactive,keyslot=-1'], ['state=inactive,keyslot=9,old-secret=nope'], ['state=active,new-secret=nope,keyslot=0'],
    ['state=inactive,keyslot=3,old-secret=s0'], ['state=active,new-secret=s1,keyslot=4294967296'], ['state=active,new-secret=s1,keyslot=2147483648'],
    ['size=2M'], ['cipher-alg=aes-128,state=active'],
  ])('amend -o %s: refused as qemu-img refuses it, the volume unchanged', (o) => {
    fresh('v.luks', 'e.luks');
    const { qemu, tsemu } = w.compare(['amend', ...SECRETS, '-o', o, '--image-opts', luksOpts('e.luks')]);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(1);
    expect(slots(w.t, 'e.luks')).toBe(slots(w.q, 'v.luks'));
  });

  it('amend -o help lists the keyslot options', () => {
    const { qemu, tsemu } = w.compare(['amend', '-f', 'luks', '-o', 'help']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.stdout).toContain('new-secret=<str>');
  });

  it('adding and erasing slots (by index, by passphrase, --force): the same slots as qemu-img\'s, the same passphrases open it', () => {
    fresh('v.luks', 's.luks');
    amendSteps('s.luks', luksOpts, [
      ['s0', ['-o', 'state=active,new-secret=s1,iter-time=10']],
      ['s0', ['-o', 'state=active,new-secret=s2,keyslot=5,iter-time=10']],
      ['s0', ['-o', 'state=inactive,keyslot=1,old-secret=s0']],
      ['s0', ['-o', 'state=inactive,old-secret=s1']],
      ['s0', ['-o', 'state=active,new-secret=s1,keyslot=0,iter-time=10', '--force']],
      ['s1', ['-o', 'state=inactive,keyslot=5']],
      ['s1', ['-o', 'state=active,new-secret=s0,iter-time=0']],
    ]);
    // iter-time=0: QEMU's floor of 1000 iterations.
    expect(run('qemu-img', ['info', 's.luks'], w.t).stdout).toMatch(/iters: 1000\n/);
    const image = (k: string): string => luksOpts('s.luks', k);
    expect(opens(w.t, image)).toEqual(opens(w.q, image));
    expect(opens(w.t, image).filter((l) => l.includes('read 65536/65536'))).toHaveLength(2);
  });
});

describe('qcow2 images', () => {
  it.each([
    ['luks.qcow2'], ['aes.qcow2'], ['plain.qcow2'],
  ])('%s: encrypt.* refusals as qemu-img\'s', (name) => {
    for (const o of [
      'encrypt.new-secret=s1', 'encrypt.state=inactive', 'encrypt.keyslot=9,encrypt.state=active,encrypt.new-secret=s1',
      'encrypt.state=inactive,encrypt.keyslot=0', 'encrypt.state=inactive,encrypt.old-secret=s0', 'encrypt.state=bogus',
      'encrypt.state=active,encrypt.new-secret=s1,cluster_size=4096', 'encrypt.format=luks', 'encrypt.cipher-alg=aes-128,encrypt.state=active',
    ]) {
      fresh(name, 'e.qcow2');
      const { qemu, tsemu } = w.compare(['amend', ...SECRETS, '-o', o, '--image-opts', qcowOpts('e.qcow2')]);
      expect(tsemu, o).toEqual(qemu);
      expect(tsemu.code, o).toBe(1);
    }
  });

  it('a LUKS-encrypted image: slots added and erased as qemu-img does, with other options in the same amend; check clean', () => {
    fresh('luks.qcow2', 's.qcow2');
    amendSteps('s.qcow2', qcowOpts, [
      ['s0', ['-o', 'encrypt.state=active,encrypt.new-secret=s1,encrypt.iter-time=10,lazy_refcounts=on']],
      ['s1', ['-o', 'encrypt.state=inactive,encrypt.keyslot=0']],
      ['s1', ['-o', 'encrypt.state=active,encrypt.new-secret=s2,encrypt.keyslot=7,encrypt.iter-time=10']],
    ]);
    expect(slots(w.t, 's.qcow2')).toContain('lazy refcounts: true');
    const image = (k: string): string => qcowOpts('s.qcow2', k);
    expect(opens(w.t, image)).toEqual(opens(w.q, image));
    expect(opens(w.t, image).filter((l) => l.includes('read 65536/65536'))).toHaveLength(2);
    const check = run('qemu-img', ['check', ...SECRETS, '--image-opts', image('s1')], w.t);
    expect(check.stdout).toMatch(/^No errors were found on the image\./);
  });
});
