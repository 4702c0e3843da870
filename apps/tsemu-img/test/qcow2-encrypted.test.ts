// Images qemu-img encrypted (LUKS and the old AES scheme), which tsemu cannot
// decrypt: commands that read or write the image ask for the key secret as
// qemu-img does, with qemu-img's words and status; `info`, which qemu-img
// answers without a key, is refused with "not supported" (README).
import { copyFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, SideBySide } from './harness.js';

let w: SideBySide;

/**
 * qemu-img's LUKS set-up times PBKDF2 with getrusage and on a loaded machine can fail
 * ("Unable to get accurate CPU usage"): try a few times, then give both sides the same file.
 */
function createEncrypted(name: string, format: string): void {
  const args = ['create', '-q', '--object', 'secret,id=s0,data=abc', '-f', 'qcow2',
    '-o', `encrypt.format=${format},encrypt.key-secret=s0${format === 'luks' ? ',encrypt.iter-time=100' : ''}`, name, '1M'];
  let r = run('qemu-img', args, w.q);
  for (let i = 0; i < 4 && r.code !== 0; i++) r = run('qemu-img', args, w.q);
  if (r.code !== 0) throw new Error(`qemu-img ${args.join(' ')} failed: ${r.stderr}`);
  copyFileSync(`${w.q}/${name}`, `${w.t}/${name}`);
}

beforeAll(() => {
  w = new SideBySide();
  createEncrypted('luks.qcow2', 'luks');
  createEncrypted('aes.qcow2', 'aes');
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
