// amend -o as qemu-img 7.2 checks it: QemuOpts against the amend list first
// (with "only supported for image creation" when the create options would
// have taken the text), then qcow2's own order: the LUKS keyslot options,
// compat, the external data file, refcount width, and the backing file last
// (the one the image has already is accepted). Output, status and the image's
// bytes must equal qemu-img's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide, sha256 } from './harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  w.both('qemu-img', ['create', '-q', '-f', 'qcow2', 'base.qcow2', '1M']);
  w.both('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2']);
});

afterAll(() => w.cleanup());

const OPTIONS = [
  // QemuOpts: the amend list, in the order given; the create-only hint only when create's list parses it all.
  'encrypt.format=luks', 'encryption=maybe', 'compression_type=bad', 'cluster_size=bad', 'encrypt.bogus=1',
  'lazy_refcounts=maybe,bogus=1', 'cluster_size=64k,lazy_refcounts=maybe', 'encrypt.keyslot=abc,cluster_size=64k', 'encrypt.state=active,size=abc',
  // qcow2's order: encryption, compat, data file, refcount width, then the backing file.
  'compat=bad,encrypt.state=active', 'size=2M,encrypt.iter-time=10', 'data_file=x,compat=bad', 'backing_file=x,data_file=',
  'data_file_raw=on', 'data_file_raw=off', 'refcount_bits=3,backing_file=x',
];
/** Backing file options, on an image without a backing file and on one with it. */
const BACKING = ['backing_file=x', 'backing_file=base.qcow2,backing_fmt=qcow2', 'backing_fmt=raw', 'backing_file=,compat=1.1'];

describe('amend -o checks', () => {
  const cases = [...OPTIONS.map((o) => ['base.qcow2', o]), ...['base.qcow2', 'top.qcow2'].flatMap((image) => BACKING.map((o) => [image, o]))];
  it.each(cases)('%s -o %s: as qemu-img', (image, o) => {
    w.both('cp', [image, 'work.qcow2']);
    const { qemu, tsemu } = w.compare(['amend', '-o', o, 'work.qcow2']);
    expect(tsemu).toEqual(qemu);
    expect(sha256(`${w.t}/work.qcow2`)).toBe(sha256(`${w.q}/work.qcow2`));
  });

  it('-o help lists the amend options, with or without an image', () => {
    for (const args of [['amend', '-f', 'qcow2', '-o', 'help'], ['amend', '-o', 'help', 'base.qcow2']]) {
      const { qemu, tsemu } = w.compare(args);
      expect(tsemu).toEqual(qemu);
      expect(tsemu.stdout).toContain('encrypt.keyslot=<num>');
    }
  });
});
