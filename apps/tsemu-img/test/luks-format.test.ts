// QEMU's luks format (a whole LUKS1 volume), images made by qemu-img: it
// probes as luks, info shows the header as qemu-img does, commands that need
// the data ask for the key in qemu-img's words, create and measure check
// their options as qemu-img does. Reading, writing and creating volumes
// with the key: luks-data.test.ts.
import { linkSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qemuImgRetried, sha256, SideBySide } from './harness.js';

let w: SideBySide;
const SECRET = ['--object', 'secret,id=s0,data=abc'];

/** Made by qemu-img (retried: see qemuImgRetried), then the same file on both sides. */
function createLuks(name: string, extra = ''): void {
  qemuImgRetried(['create', '-q', '-f', 'luks', ...SECRET, '-o', `key-secret=s0,iter-time=10${extra}`, name, '4M'], w.q);
  linkSync(`${w.q}/${name}`, `${w.t}/${name}`);
}

beforeAll(() => {
  w = new SideBySide();
  createLuks('plain.luks');
  createLuks('essiv.luks', ',cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=sha256,hash-alg=sha1');
  createLuks('twofish.luks', ',cipher-alg=twofish-256');
  // Another LUKS version and a damaged magic: neither probes as luks.
  for (const [name, at, byte] of [['v2.luks', 7, 2], ['nomagic.luks', 0, 0x4d]] as const) {
    const img = readFileSync(`${w.q}/plain.luks`);
    img[at] = byte;
    for (const dir of [w.q, w.t]) writeFileSync(`${dir}/${name}`, img);
  }
});

afterAll(() => w.cleanup());

describe('luks images', () => {
  it.each(['plain.luks', 'essiv.luks', 'twofish.luks', 'v2.luks', 'nomagic.luks'])('info %s: as qemu-img, human and JSON', (name) => {
    for (const out of ['human', 'json']) {
      const { qemu, tsemu } = w.compare(['info', `--output=${out}`, name]);
      expect(tsemu).toEqual(qemu);
    }
  });

  it('probes as luks, not raw', () => {
    expect(w.tsemu(['info', 'plain.luks']).stdout).toMatch(/^file format: luks$/m);
  });

  it.each([
    [['map', 'plain.luks']], [['check', 'plain.luks']], [['convert', '-O', 'raw', 'plain.luks', 'out.raw']],
    [['compare', 'plain.luks', 'plain.luks']], [['info', '--image-opts', 'driver=luks,file.filename=plain.luks,key-secret=s0']],
    // Another LUKS version probes as raw, as in QEMU; named as luks it is refused by the header check.
    [['info', '--image-opts', 'driver=luks,file.filename=v2.luks']], [['info', '-f', 'luks', 'nomagic.luks']],
  ])('%j: as qemu-img (the key is asked for where data is read)', (args) => {
    const { qemu, tsemu } = w.compare(args);
    expect(tsemu).toEqual(qemu);
  });

  it('with the key given, map as qemu-img', () => {
    const { qemu, tsemu } = w.compare(['map', '--output=json', ...SECRET, '--image-opts', 'driver=luks,file.filename=plain.luks,key-secret=s0']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(0);
  });

  it.each([
    [['-o', 'cipher-alg=bogus']], [['-o', 'ivgen-alg=bogus,cipher-alg=bogus']], [['-o', 'iter-time=abc']],
    [['-o', 'bogus=1']], [[...SECRET, '-o', 'key-secret=nope']], [['-o', 'hash-alg=sha3']],
  ])('create -f luks %j: as qemu-img', (opts) => {
    const { qemu, tsemu } = w.compare(['create', '-f', 'luks', ...opts, 'new.luks', '1M']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(1);
  });

  it('create -b over a luks image: its size without a key (no I/O), the same file as qemu-img', () => {
    const { qemu, tsemu } = w.compare(['create', '-f', 'qcow2', '-b', 'plain.luks', '-F', 'luks', 'over.qcow2']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(0);
    expect(sha256(`${w.t}/over.qcow2`)).toBe(sha256(`${w.q}/over.qcow2`));
  });

  it.each([
    // qemu-img times PBKDF2 for iter-time here too (2 s by default, and it can fail under load): 10 ms.
    [[...SECRET, '-o', 'key-secret=s0,iter-time=10', '--size', '1G']], [[...SECRET, '-o', 'key-secret=s0,iter-time=10,cipher-alg=aes-128', 'plain.luks']],
    [['--size', '1G']], [['-o', 'cipher-alg=bogus', '--size', '1G']], [['-o', 'key-secret=nope', '--size', '1G']],
    [[...SECRET, '-o', 'key-secret=s0,iter-time=10', '--size', '1000']],
    [[...SECRET, '-o', 'key-secret=s0,iter-time=10,cipher-mode=cbc', '--output=json', '--size', '1M']],
  ])('measure -O luks %j: as qemu-img (header and key material before the payload)', (args) => {
    const { qemu, tsemu } = w.compareLuks(['measure', '-O', 'luks', ...args]);
    expect(tsemu).toEqual(qemu);
  });

  it('create -f luks -o help: the option list', () => {
    const { qemu, tsemu } = w.compare(['create', '-f', 'luks', '-o', 'help']);
    expect(tsemu).toEqual(qemu);
  });
});
