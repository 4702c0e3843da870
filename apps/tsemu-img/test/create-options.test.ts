// -o options of create, measure, convert and resize as qemu-img 7.2 takes
// them: which driver lists which option (raw's preallocation belongs to the
// file protocol), qcow2's encryption and extended L2 rules in QEMU's order of
// checks, measure's preallocation, and a plain file's "metadata" mode.
import { existsSync, rmSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SideBySide, sha256 } from './harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  w.both('qemu-img', ['create', '-q', '-f', 'raw', 'src.raw', '4M']);
  w.both('qemu-io', ['-f', 'raw', '-c', 'write -P 0x42 0 1M', 'src.raw']);
});

afterAll(() => w.cleanup());

const CASES: string[][] = [
  ['create', '-f', 'raw', '-o', 'help'],
  ['create', '-f', 'raw', '-o', 'preallocation=full', 'out.img', '1M'],
  ['create', '-f', 'raw', '-o', 'preallocation=metadata', 'out.img', '1M'],
  // file-posix's nocow and extent_size_hint: in its order (nocow before preallocation), the hint checked before the file exists.
  ['create', '-f', 'raw', '-o', 'extent_size_hint=1M,preallocation=full,nocow=on', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'nocow=yes,extent_size_hint=0', 'out.img', '1M'],
  ['create', '-f', 'raw', '-o', 'extent_size_hint=5G', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'extent_size_hint=5G', 'out.img', '1M'],
  ['create', '-f', 'raw', '-o', 'nocow=bogus', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'help'],
  ['create', '-f', 'qcow2', '-o', 'encrypt.cipher-alg=aes-128', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'encrypt.iter-time=10,encrypt.hash-alg=sha256', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'compat=0.10,extended_l2=on', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'extended_l2=on,cluster_size=4k', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'extended_l2=on,compat=0.10,cluster_size=4k,refcount_bits=8', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'extended_l2=on,cluster_size=3k', 'out.img', '1M'],
  ['measure', '-O', 'qcow2', '-o', 'preallocation=metadata', '--size', '100M'],
  ['measure', '-O', 'qcow2', '-o', 'preallocation=falloc', '--size', '100M'],
  ['measure', '-O', 'qcow2', '-o', 'preallocation=full', 'src.raw'],
  ['measure', '-O', 'qcow2', '-o', 'preallocation=bad', '--size', '1M'],
  ['measure', '-O', 'qcow2', '-o', 'preallocation=bad,cluster_size=3k', '--size', '1M'],
  ['measure', '-O', 'qcow2', '-o', 'extended_l2=on,cluster_size=4k', '--size', '1M'],
  ['measure', '-O', 'raw', '-o', 'preallocation=full', 'src.raw'],
  ['convert', '-O', 'raw', '-o', 'preallocation=full', 'src.raw', 'out.img'],
  ['convert', '-O', 'raw', '-o', 'preallocation=metadata', 'src.raw', 'out.img'],
  ['resize', '-f', 'raw', '--preallocation=metadata', 'src.raw', '8M'],
  // QemuOpts' checks while parsing -o: in the order given, by type, before the Formatting line.
  ['create', '-f', 'qcow2', '-o', 'cluster_size=64k,,', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'lazy_refcounts=maybe', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'lazy_refcounts=y', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'lazy_refcounts=TRUE', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'refcount_bits=abc,lazy_refcounts=x', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'lazy_refcounts=x,refcount_bits=abc', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'bogus=1,lazy_refcounts=x', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'size=abc,lazy_refcounts=x', 'out.img'],
  ['create', '-f', 'qcow2', '-o', 'refcount_bits=0x10', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'refcount_bits=-18446744073709551608', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'cluster_size=99999999999999999999', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'data_file_raw=maybe', 'out.img', '1M'],
  ['create', '-f', 'raw', '-o', 'preallocation=full,size=abc', 'out.img'],
  // Backing files: -o backing_file= is -b (the size comes from it), QEMU's checks in its order, commas doubled in the line.
  ['create', '-f', 'qcow2', '-o', 'backing_file=src.raw,backing_fmt=raw', 'out.img'],
  ['create', '-f', 'qcow2', '-o', 'backing_file=src.raw', '-F', 'raw', 'out.img'],
  ['create', '-f', 'qcow2', '-b', 'json:{"driver":"raw","file":{"driver":"file","filename":"src.raw"}}', '-F', 'raw', 'out.img'],
  ['create', '-f', 'qcow2', '-b', 'out.img', '-F', 'qcow2', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'backing_file=out.img', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-b', '', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-u', '-b', 'nonexistent.qcow2', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-u', '-b', 'nonexistent.qcow2', 'out.img'],
  ['create', '-f', 'raw', '-F', 'qcow2', 'out.img', '1M'],
  // qcow2 encryption: tsemu writes none, but refuses it with QEMU's errors in QEMU's order up to the key secret.
  ['create', '-f', 'qcow2', '-o', 'encrypt.format=luks', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'encryption=on', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'encrypt.format=luks,encrypt.key-secret=nope', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'encrypt.format=foo,preallocation=bad', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'compat=bad,encrypt.format=foo', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'compat=bad,encryption=on,encrypt.format=luks', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'encryption=yes', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'encryption=off,encrypt.format=luks', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'encryption=off,encrypt.cipher-alg=aes-128', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'encrypt.format=luks,encrypt.cipher-alg=bogus,encrypt.hash-alg=bad', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'encrypt.format=luks,encrypt.ivgen-alg=plain64,encrypt.ivgen-hash-alg=sha3', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'encrypt.format=aes,encrypt.cipher-alg=aes-128', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'encrypt.format=luks,cluster_size=3', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'encrypt.format=luks,encrypt.key-secret=x,preallocation=bad', 'out.img', '1M'],
  ['create', '-f', 'qcow2', '-o', 'encrypt.format=luks,compression_type=zstd,compat=0.10', 'out.img', '1M'],
  ['convert', '-O', 'qcow2', '-o', 'encrypt.format=luks', 'src.raw', 'out.img'],
  ['convert', '-O', 'qcow2', '-o', 'encrypt.format=aes,encrypt.key-secret=s0', 'src.raw', 'out.img'],
  ['measure', '-O', 'qcow2', '-o', 'encrypt.format=luks', '--size', '1G'],
  ['measure', '-O', 'qcow2', '-o', 'encrypt.format=luks,encrypt.key-secret=nope', '--size', '1G'],
  ['measure', '-O', 'qcow2', '-o', 'encrypt.format=luks,encrypt.cipher-alg=bogus', '--size', '1G'],
  ['measure', '-O', 'qcow2', '-o', 'encryption=on,encrypt.format=luks', '--size', '1G'],
  ['measure', '-O', 'qcow2', '-o', 'encrypt.format=foo,encrypt.cipher-alg=x', '--size', '1G'],
  ['measure', '-O', 'qcow2', '-o', 'encryption=on', 'src.raw'],
];

describe('create options as qemu-img takes them', () => {
  it.each(CASES.map((c) => [c]))('%j: same output, status and files as qemu-img', (args) => {
    for (const dir of [w.q, w.t]) rmSync(`${dir}/out.img`, { force: true });
    const { qemu, tsemu } = w.compare(args);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.stderr).not.toMatch(/^\s+at /m);
    // The files each left behind: the same ones, with the same bytes.
    for (const name of ['out.img', 'src.raw']) {
      const there = existsSync(`${w.q}/${name}`);
      expect(existsSync(`${w.t}/${name}`)).toBe(there);
      if (there && name === 'src.raw') expect(sha256(`${w.t}/${name}`)).toBe(sha256(`${w.q}/${name}`));
      if (there && name === 'out.img' && args.includes('raw')) expect(sha256(`${w.t}/${name}`)).toBe(sha256(`${w.q}/${name}`));
    }
  });
});

describe('qcow2 encryption with a valid key secret: made as qemu-img makes it', () => {
  it.each([
    [['create', '--object', 'secret,id=s0,data=abc', '-f', 'qcow2', '-o', 'encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10', 'out.img', '1M']],
    [['create', '--object', 'secret,id=s0,data=abc', '-f', 'qcow2', '-o', 'encryption=on,encrypt.key-secret=s0', 'out.img', '1M']],
    [['convert', '--object', 'secret,id=s0,data=abc', '-O', 'qcow2', '-o', 'encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10', 'src.raw', 'out.img']],
  ])('%j: the same output and status, an image of the same size', (args) => {
    for (const dir of [w.q, w.t]) rmSync(`${dir}/out.img`, { force: true });
    const { qemu, tsemu } = w.compareLuks(args);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.code).toBe(0);
    expect(statSync(`${w.t}/out.img`).size).toBe(statSync(`${w.q}/out.img`).size);
  });
});
