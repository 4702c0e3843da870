// Images qemu-img encrypted (LUKS and the old AES scheme), which tsemu cannot
// decrypt: commands that read or write the image ask for the key secret as
// qemu-img does, with qemu-img's words and status; `info`, which qemu-img
// answers without a key, is refused with "not supported" (README).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide } from './harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  w.both('qemu-img', ['create', '-q', '--object', 'secret,id=s0,data=abc', '-f', 'qcow2',
    '-o', 'encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10', 'luks.qcow2', '1M']);
  w.both('qemu-img', ['create', '-q', '--object', 'secret,id=s0,data=abc', '-f', 'qcow2',
    '-o', 'encrypt.format=aes,encrypt.key-secret=s0', 'aes.qcow2', '1M']);
});

afterAll(() => w.cleanup());

describe('encrypted qcow2 images', () => {
  it.each([
    ['check', 'luks.qcow2'], ['map', 'luks.qcow2'], ['measure', 'luks.qcow2'], ['snapshot', '-l', 'luks.qcow2'],
    ['compare', 'luks.qcow2', 'luks.qcow2'], ['convert', '-O', 'raw', 'luks.qcow2', 'out.raw'], ['resize', 'luks.qcow2', '2M'],
    ['check', 'aes.qcow2'], ['map', 'aes.qcow2'],
  ])('%s %s ...: asks for the key as qemu-img does', (...args) => {
    const { qemu, tsemu } = w.compare(args);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.stderr).toContain("Parameter 'encrypt.key-secret' is required for cipher");
  });

  it('info: one line saying encrypted images are not supported', () => {
    const r = w.tsemu(['info', 'luks.qcow2']);
    expect(r).toEqual({ stdout: '', stderr: "qemu-img: Could not open 'luks.qcow2': qcow2: encrypted images are not supported\n", code: 1 });
  });
});
