// Qcow2Header: v2/v3 parsing, round trips, feature names in errors (checked
// against qemu-img's own message), unknown extensions preserved on rewrite.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { openImage } from '@tsemu/block-core';
import { Qcow2Header } from '@tsemu/block-qcow2';
import { expectCleanCheck, makeTempDir, qemuImg, qemuImgStatus, qemuIo } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

function header(file: string): Qcow2Header {
  return Qcow2Header.parse(new Uint8Array(readFileSync(file)));
}

function rewriteHeader(file: string, h: Qcow2Header): void {
  const bytes = new Uint8Array(readFileSync(file));
  const hb = h.serialize();
  bytes.fill(0, 0, h.clusterSize);
  bytes.set(hb, 0);
  writeFileSync(file, bytes);
}

describe('Qcow2Header', () => {
  it('parses a v3 image and serialises it back byte for byte', () => {
    const f = tmp.path('v3.qcow2');
    const base = tmp.path('v3-base.qcow2');
    qemuImg('create', '-f', 'qcow2', base, '1M');
    qemuImg('create', '-f', 'qcow2', '-b', base, '-F', 'qcow2', f, '1M');
    const h = header(f);
    expect(h.version).toBe(3);
    expect(h.clusterSize).toBe(65536);
    expect(h.backingFile).toBe(base);
    expect(h.backingFormat).toBe('qcow2');
    expect(h.featureNames.map((x) => x.name)).toContain('lazy refcounts');
    const hb = h.serialize();
    expect(Buffer.compare(Buffer.from(hb), readFileSync(f).subarray(0, hb.length))).toBe(0);
  });

  it('parses a v2 image', () => {
    const f = tmp.path('v2.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', 'compat=0.10', f, '1M');
    const h = header(f);
    expect(h.version).toBe(2);
    expect(h.refcountOrder).toBe(4);
    expect(h.headerLength).toBe(72);
    const hb = h.serialize();
    expect(Buffer.compare(Buffer.from(hb), readFileSync(f).subarray(0, hb.length))).toBe(0);
  });

  it('probes the magic', () => {
    expect(Qcow2Header.probe(new Uint8Array([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]))).toBe(100);
    expect(Qcow2Header.probe(new Uint8Array([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 1]))).toBe(0);
    expect(Qcow2Header.probe(new Uint8Array(8))).toBe(0);
  });

  it('names unknown incompatible features from the image table, as qemu-img does', async () => {
    const f = tmp.path('feat.qcow2');
    qemuImg('create', '-f', 'qcow2', f, '1M');
    const bytes = new Uint8Array(readFileSync(f));
    // Feature table at 0x70: entry 4 (extended L2) becomes incompatible bit 5 "foo bar".
    const entry = 0x78 + 4 * 48;
    expect(bytes[entry + 1]).toBe(4);
    bytes[entry + 1] = 5;
    bytes.fill(0, entry + 2, entry + 48);
    bytes.set(new TextEncoder().encode('foo bar'), entry + 2);
    new DataView(bytes.buffer).setBigUint64(72, (1n << 5n) | (1n << 6n));
    writeFileSync(f, bytes);
    const expected = 'Unsupported qcow2 feature(s): foo bar, Unknown incompatible feature: 40';
    expect(qemuImgStatus('info', f).stderr).toContain(expected);
    await expect(openImage({ filename: f, format: 'qcow2', readOnly: true })).rejects.toThrow(expected);
  });

  it('keeps unknown header extensions and clears unknown autoclear bits on a read-write open', async () => {
    const f = tmp.path('ext.qcow2');
    qemuImg('create', '-f', 'qcow2', f, '1M');
    const h = header(f);
    h.unknownExtensions.push({ type: 0x12345678, data: new TextEncoder().encode('hello, qcow2') });
    h.autoclearFeatures = 1n << 7n;
    rewriteHeader(f, h);
    expect(qemuImgStatus('check', f).status).toBe(0);
    const blk = await openImage({ filename: f, format: 'qcow2' });
    await blk.write(0, new Uint8Array(512).fill(7));
    await blk.close();
    const after = header(f);
    expect(after.autoclearFeatures).toBe(0n);
    expect(after.unknownExtensions).toHaveLength(1);
    expect(new TextDecoder().decode(after.unknownExtensions[0]!.data)).toBe('hello, qcow2');
    expectCleanCheck(f);
    qemuIo(f, 'read -P 7 0 512');
  });

  it('opens a dirty image read-only as it is, and repairs it on a read-write open', async () => {
    const f = tmp.path('dirty.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', 'lazy_refcounts=on', f, '1M');
    const bytes = new Uint8Array(readFileSync(f));
    new DataView(bytes.buffer).setBigUint64(72, 1n);
    writeFileSync(f, bytes);
    const ro = await openImage({ filename: f, format: 'qcow2', readOnly: true });
    expect(ro.info().dirty).toBe(true);
    await ro.close();
    const rw = await openImage({ filename: f, format: 'qcow2' });
    expect(rw.info().dirty).toBe(false);
    await rw.close();
    expect(header(f).incompatibleFeatures).toBe(0n);
    expectCleanCheck(f);
  });
});
