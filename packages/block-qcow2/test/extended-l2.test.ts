// Images with extended L2 entries (subclusters) made by qemu-img / qemu-io
// read back through tsemu as qemu-img reads them; writes are refused clearly.
import { afterAll, describe, expect, it } from 'vitest';
import { openImage } from '@tsemu/block-core';
import { firstDiff, readAllQemu, readAllTsemu } from './helpers/images.js';
import { makeTempDir, qemuImg, qemuIo } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

describe('extended L2 entries', () => {
  for (const cs of ['16k', '64k', '2M']) {
    it(`reads subclusters, zero subclusters and the backing file (cluster_size=${cs})`, async () => {
      const base = tmp.path(`xb-${cs}.qcow2`);
      const f = tmp.path(`x-${cs}.qcow2`);
      qemuImg('create', '-f', 'qcow2', base, '8M');
      qemuIo(base, 'write -P 0x10 0 8M');
      qemuImg('create', '-f', 'qcow2', '-o', `extended_l2=on,cluster_size=${cs}`, '-b', base, '-F', 'qcow2', f, '8M');
      qemuIo(f, 'write -P 0x21 1k 2k', 'write -P 0x22 5000 7000', 'write -z 40k 8k', 'write -P 0x23 3M 100k',
        'write -c -P 0x24 6M ' + cs, 'write -z 7M 1M');
      const expected = readAllQemu(f, tmp.path(`x-${cs}.raw`));
      expect(firstDiff(await readAllTsemu(f), expected)).toBe(-1);
      const blk = await openImage({ filename: f, format: 'qcow2', readOnly: true });
      expect(blk.info().formatSpecific?.data['extended-l2']).toBe(true);
      await blk.close();
      await expect(openImage({ filename: f, format: 'qcow2' })).rejects.toThrow('extended L2 entries is not supported yet');
    });
  }
});
