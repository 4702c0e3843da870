// Images qemu-img encrypted (LUKS and the old AES scheme), which tsemu cannot
// decrypt: commands that read or write the image ask for the key secret as
// qemu-img does, with qemu-img's words and status. `info`, which qemu-img
// answers without a key, shows the encryption header as qemu-img does, and
// damaged LUKS headers are refused in qemu-img's words (also by commands given
// the key, before tsemu's "not supported").
import { linkSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qemuImgRetried, SideBySide } from './harness.js';

let w: SideBySide;

/** Made by qemu-img (retried: see qemuImgRetried), then the same file on both sides. */
function createEncrypted(name: string, format: string, extra = ''): void {
  qemuImgRetried(['create', '-q', '--object', 'secret,id=s0,data=abc', '-f', 'qcow2',
    '-o', `encrypt.format=${format},encrypt.key-secret=s0${format === 'luks' ? ',encrypt.iter-time=100' : ''}${extra}`, name, '1M'], w.q);
  // A hard link: the very same file (and disk size) on both sides; nothing here writes to it.
  linkSync(`${w.q}/${name}`, `${w.t}/${name}`);
}

beforeAll(() => {
  w = new SideBySide();
  createEncrypted('luks.qcow2', 'luks');
  createEncrypted('aes.qcow2', 'aes');
  createEncrypted('essiv.qcow2', 'luks', ',encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256');
  createEncrypted('twofish.qcow2', 'luks', ',encrypt.cipher-alg=twofish-256,encrypt.hash-alg=sha512');
  createEncrypted('serpent.qcow2', 'luks', ',encrypt.cipher-alg=serpent-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=plain');
  createEncrypted('cast5.qcow2', 'luks', ',encrypt.cipher-alg=cast5-128,encrypt.cipher-mode=cbc,encrypt.hash-alg=sha1');
  createEncrypted('ctr.qcow2', 'luks', ',encrypt.cipher-mode=ctr,encrypt.hash-alg=ripemd160');
  w.both('qemu-img', ['create', '-q', '-f', 'qcow2', 'plain.qcow2', '1M']);
});

/** Byte offset of the LUKS header: the qcow2 crypto header extension's first field. */
function luksOffset(img: Buffer): number {
  let at = img.readUInt32BE(100); // v3 header length: the extensions follow
  for (;;) {
    const type = img.readUInt32BE(at), len = img.readUInt32BE(at + 4);
    if (type === 0) throw new Error('no crypto header extension');
    if (type === 0x0537be77) return Number(img.readBigUInt64BE(at + 8));
    at += 8 + ((len + 7) & ~7);
  }
}

/** luks.qcow2 with its LUKS header changed, as the same file on both sides. */
function damaged(name: string, change: (img: Buffer, luks: number) => void): void {
  const img = readFileSync(`${w.q}/luks.qcow2`);
  change(img, luksOffset(img));
  for (const dir of [w.q, w.t]) writeFileSync(`${dir}/${name}`, img);
}

const text = (img: Buffer, at: number, s: string, width = 32): void => { img.fill(0, at, at + width); img.write(s, at, 'latin1'); };
const slot = (i: number, field: number): number => 208 + 48 * i + field; // 0 state, 4 iterations, 40 key offset, 44 stripes

/** One change to the LUKS header per case, and pairs that show which check QEMU makes first. */
const DAMAGE: [string, (img: Buffer, luks: number) => void][] = [
  ['magic', (b, o) => { b[o] = 0x4d; }],
  ['version', (b, o) => b.writeUInt16BE(2, o + 6)],
  ['cipher name', (b, o) => text(b, o + 8, 'foo')],
  ['cipher mode', (b, o) => text(b, o + 40, 'foo-plain64')],
  ['iv generator', (b, o) => text(b, o + 40, 'xts-bogus')],
  ['mode without iv generator', (b, o) => text(b, o + 40, 'xts')],
  ['essiv hash', (b, o) => text(b, o + 40, 'cbc-essiv:foo')],
  ['hash', (b, o) => text(b, o + 72, 'foo')],
  ['odd xts key size', (b, o) => b.writeUInt32BE(33, o + 108)],
  ['zero key size', (b, o) => b.writeUInt32BE(0, o + 108)],
  ['payload in the header', (b, o) => b.writeUInt32BE(3, o + 104)],
  ['payload over key slot 0', (b, o) => b.writeUInt32BE(508, o + 104)],
  ['master key iterations', (b, o) => b.writeUInt32BE(0, o + 164)],
  ['slot state', (b, o) => b.writeUInt32BE(0x11111111, o + slot(0, 0))],
  ['slot stripes', (b, o) => b.writeUInt32BE(1, o + slot(0, 44))],
  ['inactive slot stripes', (b, o) => b.writeUInt32BE(0, o + slot(1, 44))],
  ['slot iterations', (b, o) => b.writeUInt32BE(0, o + slot(0, 4))],
  ['slot in the header', (b, o) => b.writeUInt32BE(7, o + slot(0, 40))],
  ['slot over the payload', (b, o) => b.writeUInt32BE(3537, o + slot(0, 40))],
  ['slots overlapping', (b, o) => b.writeUInt32BE(300, o + slot(0, 40))],
  ['uuid', (b, o) => text(b, o + 168, 'not-a-uuid', 40)],
  ['stripes before iterations', (b, o) => { b.writeUInt32BE(0, o + slot(0, 4)); b.writeUInt32BE(0, o + slot(0, 44)); }],
  ['iterations before placement', (b, o) => { b.writeUInt32BE(0, o + slot(0, 4)); b.writeUInt32BE(7, o + slot(0, 40)); }],
  ['an inactive slot keeps no iterations', (b, o) => { b.writeUInt32BE(0xdead, o + slot(0, 0)); b.writeUInt32BE(0, o + slot(0, 4)); }],
  ['payload before master key iterations', (b, o) => { b.writeUInt32BE(1, o + 104); b.writeUInt32BE(0, o + 164); }],
  ['master key iterations before slots', (b, o) => { b.writeUInt32BE(0, o + 164); b.writeUInt32BE(0x11111111, o + slot(0, 0)); }],
  ['slots before the cipher', (b, o) => { b.writeUInt32BE(0x11111111, o + slot(0, 0)); text(b, o + 8, 'foo'); }],
  ['overlap before the next slot state', (b, o) => { b.writeUInt32BE(512, o + slot(0, 40)); b.writeUInt32BE(1, o + slot(1, 0)); }],
  ['cipher mode before cipher', (b, o) => { text(b, o + 40, 'foo-plain64'); text(b, o + 8, 'foo'); }],
  ['essiv hash before cipher', (b, o) => { text(b, o + 40, 'cbc-essiv:foo'); text(b, o + 8, 'foo'); }],
  ['cipher before hash', (b, o) => { text(b, o + 8, 'foo'); text(b, o + 72, 'foo'); }],
  ['hash before iv generator', (b, o) => { text(b, o + 40, 'xts-bogus'); text(b, o + 72, 'foo'); }],
  ['header extension past the end of the file', (b) => {
    let at = b.readUInt32BE(100);
    while (b.readUInt32BE(at) !== 0x0537be77) at += 8 + ((b.readUInt32BE(at + 4) + 7) & ~7);
    b.writeBigUInt64BE(BigInt(b.length + (1 << 18)), at + 8);
  }],
  ['header extension too short', (b) => {
    let at = b.readUInt32BE(100);
    while (b.readUInt32BE(at) !== 0x0537be77) at += 8 + ((b.readUInt32BE(at + 4) + 7) & ~7);
    b.writeBigUInt64BE(100n, at + 16);
  }],
  ['header offset not cluster aligned', (b, o) => {
    let at = b.readUInt32BE(100);
    while (b.readUInt32BE(at) !== 0x0537be77) at += 8 + ((b.readUInt32BE(at + 4) + 7) & ~7);
    b.writeBigUInt64BE(BigInt(o + 512), at + 8);
  }],
];

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

  it.each(['luks.qcow2', 'aes.qcow2', 'essiv.qcow2', 'twofish.qcow2', 'serpent.qcow2', 'cast5.qcow2', 'ctr.qcow2'])(
    'info %s: the encryption header as qemu-img shows it, human and JSON',
    (name) => {
      for (const out of ['human', 'json']) {
        const { qemu, tsemu } = w.compare(['info', `--output=${out}`, name]);
        expect(tsemu).toEqual(qemu);
        expect(tsemu.stdout).toMatch(out === 'json' ? /"encrypted": true/ : /encrypted: yes/);
      }
    },
  );

  it.each(DAMAGE)('a LUKS header with a bad %s: info as qemu-img', (what, change) => {
    const name = `bad-${what.replaceAll(' ', '-')}.qcow2`;
    damaged(name, change);
    const { qemu, tsemu } = w.compare(['info', name]);
    expect(tsemu).toEqual(qemu);
  });

  it('given the key, a damaged header is refused in qemu-img words; a sound one checks as in qemu-img', () => {
    damaged('bad-slot.qcow2', (b, o) => b.writeUInt32BE(7, o + slot(0, 40)));
    const opts = (f: string): string[] => ['check', '--object', 'secret,id=s0,data=abc', '--image-opts', `driver=qcow2,file.filename=${f},encrypt.key-secret=s0`];
    const { qemu, tsemu } = w.compare(opts('bad-slot.qcow2'));
    expect(tsemu).toEqual(qemu);
    expect(tsemu.stderr).toContain('Keyslot 0 is overlapping with the LUKS header');
    const sound = w.compare(opts('luks.qcow2'));
    expect(sound.tsemu).toEqual(sound.qemu);
    expect(sound.tsemu.stdout).toContain('No errors were found on the image.');
  });

  it.each(['luks.qcow2', 'aes.qcow2'])('create -b %s: the backing size without a key, as qemu-img', (name) => {
    const { qemu, tsemu } = w.compare(['create', '-f', 'qcow2', '-b', name, '-F', 'qcow2', `over-${name}`]);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(0);
  });

  it.each([
    ['luks.qcow2', 'aes'], ['luks.qcow2', 'bogus'], ['aes.qcow2', 'luks'], ['plain.qcow2', 'luks'],
  ])('info --image-opts %s with encrypt.format=%s: as qemu-img', (name, format) => {
    const { qemu, tsemu } = w.compare(['info', '--image-opts', `driver=qcow2,file.filename=${name},encrypt.format=${format}`]);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(1);
  });
});
