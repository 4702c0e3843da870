// Raw deflate through the host's libz (the zlib qemu-img uses), on the thread
// pool. Its bytes against qemu-img's are checked by tsemu-img's
// convert-compressed-identical test; here: the calls' contract.
import { inflateRawSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { hostIo, ZSTD_ENOSPC } from '@tsemu/host-io';

function text(size: number, seed: number): Uint8Array {
  const out = Buffer.alloc(size);
  let s = seed, pos = 0;
  while (pos < size) pos += out.write(`word${(s = (Math.imul(s, 1103515245) + 12345) >>> 0) % 500} `, pos);
  return new Uint8Array(out.buffer, out.byteOffset, size);
}

describe('deflateRawAsync (libz.so.1 through dlopen)', () => {
  test('is available where the addon is built', () => {
    expect(hostIo.zlibAvailable()).toBe(true);
  });

  test('raw deflate that inflates back; many at once on the pool', async () => {
    const inputs = Array.from({ length: 16 }, (_, i) => text(65536, i + 1));
    const outs = inputs.map((d) => new Uint8Array(d.length - 1));
    const sizes = await Promise.all(inputs.map((d, i) => hostIo.deflateRawAsync(d, outs[i]!, 6, 12, 9)));
    sizes.forEach((n, i) => {
      expect(n).toBeGreaterThan(0);
      expect(n).toBeLessThan(65536);
      expect(Buffer.compare(inflateRawSync(outs[i]!.subarray(0, n)), inputs[i]!)).toBe(0);
    });
  });

  test('output that does not fit is ZSTD_ENOSPC; bad arguments -EINVAL, without a throw', async () => {
    const noise = new Uint8Array(4096);
    let s = 3;
    for (let i = 0; i < noise.length; i++) noise[i] = (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
    expect(await hostIo.deflateRawAsync(noise, new Uint8Array(4095), 6, 12, 9)).toBe(ZSTD_ENOSPC);
    expect(await hostIo.deflateRawAsync(noise, new Uint8Array(8192), 6, 99, 9)).toBe(-22);
    expect(await hostIo.deflateRawAsync('x' as unknown as Uint8Array, new Uint8Array(8), 6, 12, 9)).toBe(-22);
  });
});
