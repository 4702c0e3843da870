// amend: compat upgrade / downgrade (zero clusters expanded), lazy_refcounts,
// size; QEMU's messages for what it refuses. Checked with qemu-img.
import { copyFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { openImage } from '@tsemu/block-core';
import type { Qcow2DriverState } from '@tsemu/block-qcow2';
import { firstDiff, readAllQemu } from './helpers/images.js';
import { expectCleanCheck, makeTempDir, qemuImg, qemuIo } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

async function amend(file: string, options: Record<string, string>): Promise<void> {
  const blk = await openImage({ filename: file, format: 'qcow2' });
  try {
    await (blk.root.state as unknown as Qcow2DriverState).amend(options);
  } finally {
    await blk.close();
  }
}

function info(file: string): Record<string, unknown> {
  const i = JSON.parse(qemuImg('info', '--output=json', file)) as Record<string, unknown>;
  delete i['actual-size'];
  delete i.filename;
  return i;
}

describe('amend', () => {
  it('downgrades to compat=0.10, expanding zero clusters, like qemu-img amend', async () => {
    for (const withBacking of [false, true]) {
      const base = tmp.path('base.qcow2');
      const f = tmp.path(`dn-${withBacking}.qcow2`);
      qemuImg('create', '-f', 'qcow2', base, '4M');
      qemuIo(base, 'write -P 0x55 0 4M');
      if (withBacking) qemuImg('create', '-f', 'qcow2', '-b', base, '-F', 'qcow2', f, '4M');
      else qemuImg('create', '-f', 'qcow2', f, '4M');
      qemuIo(f, 'write -P 1 0 256k', 'write -z 64k 64k', 'write -z 1M 128k', 'write -P 2 2M 64k');
      const before = readAllQemu(f, tmp.path('dn-before.raw'));
      const theirs = tmp.path(`dn-theirs-${withBacking}.qcow2`);
      copyFileSync(f, theirs);
      qemuImg('amend', '-o', 'compat=0.10', theirs);
      await amend(f, { compat: '0.10' });
      expectCleanCheck(f);
      expect(info(f)).toEqual(info(theirs));
      expect(firstDiff(readAllQemu(f, tmp.path('dn-after.raw')), before)).toBe(-1);
    }
  });

  it('upgrades to compat=1.1 and toggles lazy_refcounts like qemu-img amend', async () => {
    const f = tmp.path('up.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', 'compat=0.10', f, '4M');
    qemuIo(f, 'write -P 3 0 100k');
    const theirs = tmp.path('up-theirs.qcow2');
    copyFileSync(f, theirs);
    await amend(f, { compat: '1.1', lazy_refcounts: 'on' });
    qemuImg('amend', '-o', 'compat=1.1,lazy_refcounts=on', theirs);
    expect(info(f)).toEqual(info(theirs));
    expectCleanCheck(f);
    await amend(f, { lazy_refcounts: 'off' });
    qemuImg('amend', '-o', 'lazy_refcounts=off', theirs);
    expect(info(f)).toEqual(info(theirs));
    await amend(f, { size: String(8 << 20) });
    expect(info(f)['virtual-size']).toBe(8 << 20);
    expectCleanCheck(f);
    qemuIo(f, 'read -P 3 0 100k');
  });

  it('refuses what qemu-img amend refuses, with its messages', async () => {
    const f = tmp.path('bad.qcow2');
    qemuImg('create', '-f', 'qcow2', f, '1M');
    await expect(amend(f, { compat: '0.10', lazy_refcounts: 'on' })).rejects.toThrow(
      'Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)');
    await expect(amend(f, { cluster_size: '4096' })).rejects.toThrow("Invalid parameter 'cluster_size'\nThis option is only supported for image creation");
    await expect(amend(f, { backing_file: 'x' })).rejects.toThrow('Cannot amend the backing file');
    await expect(amend(f, { compat: '0.10', refcount_bits: '8' })).rejects.toThrow('Refcount widths other than 16 bits require compatibility level 1.1 or above');
    expectCleanCheck(f);
  });
});
