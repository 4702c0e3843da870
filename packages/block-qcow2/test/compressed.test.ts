// Compressed clusters written by tsemu (pwritevCompressed, what `write -c`
// and `convert -c` use): packed like QEMU's, readable by qemu-io, clean in
// `qemu-img check`, and overwritable.
import { afterAll, describe, expect, it } from 'vitest';
import { createImage, openImage, type BlockBackend } from '@tsemu/block-core';
import type { Qcow2DriverState } from '@tsemu/block-qcow2';
import { firstDiff, readAll, writeRaw } from './helpers/images.js';
import { expectCleanCheck, makeTempDir, prng, qemuImg, qemuImgStatus } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

function qcow2State(blk: BlockBackend): Qcow2DriverState {
  return blk.root.state as unknown as Qcow2DriverState;
}

describe('compressed writes', () => {
  for (const cs of [512, 4096, 65536]) {
    it(`cluster_size=${cs}`, async () => {
      const f = tmp.path(`c${cs}.qcow2`);
      const size = 64 * cs + 1000;
      await createImage({ filename: f, format: 'qcow2', size, options: { cluster_size: String(cs) } });
      const model = new Uint8Array(Math.ceil(size / 512) * 512);
      const rnd = prng(cs);
      const blk = await openImage({ filename: f, format: 'qcow2' });
      const st = qcow2State(blk);
      for (let c = 0; c < 40; c++) {
        const data = new Uint8Array(cs);
        // Mostly compressible text-like data; every 7th cluster random (stored plainly).
        for (let i = 0; i < cs; i++) data[i] = c % 7 === 6 ? Math.floor(rnd() * 256) : 97 + ((i * (c + 1)) % 13);
        await st.pwritevCompressed(c * cs, cs, [data]);
        model.set(data, c * cs);
      }
      // The short last cluster at the end of the image.
      const tailStart = Math.floor(model.length / cs) * cs;
      const tail = new Uint8Array(model.length - tailStart).fill(0x42);
      await st.pwritevCompressed(tailStart, tail.length, [tail]);
      model.set(tail, tailStart);
      await expect(st.pwritevCompressed(0, cs, [new Uint8Array(cs)])).rejects.toThrow('Input/output error');
      await expect(st.pwritevCompressed(1, cs, [new Uint8Array(cs)])).rejects.toThrow('Invalid argument');
      // Overwrite parts of compressed clusters: copy-on-write out of them.
      await blk.write(3 * cs + 5, new Uint8Array(10).fill(1));
      model.fill(1, 3 * cs + 5, 3 * cs + 15);
      await blk.write(10 * cs, new Uint8Array(cs).fill(2));
      model.fill(2, 10 * cs, 11 * cs);
      expect(firstDiff(await readAll(blk), model)).toBe(-1);
      await blk.close();
      expectCleanCheck(f);
      const check = qemuImg('check', '--output=json', f);
      expect(JSON.parse(check)['compressed-clusters']).toBeGreaterThan(20);
      const raw = tmp.path(`c${cs}.raw`);
      writeRaw(raw, model);
      expect(qemuImgStatus('compare', '-f', 'raw', '-F', 'qcow2', raw, f).stdout).toContain('Images are identical.');
    });
  }
});
