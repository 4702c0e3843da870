// zstd through the host's libzstd (CI installs Debian's libzstd1 with apt's
// own dependencies). Frames are checked against the `zstd` format itself:
// magic, a content size, no checksum, as qcow2 writes them.
import { describe, expect, test } from 'vitest';
import { hostIo, ZSTD_EIO, ZSTD_ENOSPC } from '@tsemu/host-io';

function text(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = 'qcow2 zstd cluster '.charCodeAt(i % 19) ^ (i >> 12);
  return out;
}

function compress(data: Uint8Array, room = data.length): Uint8Array {
  const out = new Uint8Array(room);
  const n = hostIo.zstdCompress(data, out, 3);
  expect(n).toBeGreaterThan(0);
  return out.subarray(0, n);
}

describe('zstd (libzstd.so.1 through dlopen)', () => {
  test('is available where the addon is built', () => {
    expect(hostIo.zstdAvailable()).toBe(true);
  });

  test('one frame per call, with the content size and no checksum; it decodes back', () => {
    const data = text(65536);
    const frame = compress(data);
    expect(Buffer.from(frame.subarray(0, 4)).readUInt32LE(0)).toBe(0xfd2fb528);
    const descriptor = frame[4]!;
    expect(descriptor >> 6).not.toBe(0); // Frame_Content_Size present
    expect(descriptor & 4).toBe(0); // no Content_Checksum
    const back = new Uint8Array(65536);
    expect(hostIo.zstdDecompress(frame, back)).toBe(65536);
    expect(Buffer.compare(back, data)).toBe(0);
  });

  test('a frame that does not fit is ZSTD_ENOSPC', () => {
    const noise = new Uint8Array(4096);
    let s = 1;
    for (let i = 0; i < noise.length; i++) noise[i] = (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
    expect(hostIo.zstdCompress(noise, new Uint8Array(4095), 3)).toBe(ZSTD_ENOSPC);
  });

  test('stops when the output is full (bytes after the frame are ignored) and reads frames one after another', () => {
    const a = text(4096), b = text(8192).subarray(4096);
    const fa = compress(a), fb = compress(b);
    const input = new Uint8Array(fa.length + fb.length + 100).fill(0xee);
    input.set(fa, 0);
    input.set(fb, fa.length);
    const out = new Uint8Array(8192);
    expect(hostIo.zstdDecompress(input, out)).toBe(8192);
    expect(Buffer.compare(out.subarray(0, 4096), a)).toBe(0);
    expect(Buffer.compare(out.subarray(4096), b)).toBe(0);
    expect(hostIo.zstdDecompress(input.subarray(0, fa.length + 100), new Uint8Array(4096))).toBe(4096);
  });

  test('a truncated frame gives fewer bytes, garbage ZSTD_EIO, and the context recovers', () => {
    const data = text(65536);
    const frame = compress(data);
    const out = new Uint8Array(65536);
    expect(hostIo.zstdDecompress(frame.subarray(0, frame.length >> 1), out)).toBeLessThan(65536);
    const bad = frame.slice();
    bad[0] = 0;
    expect(hostIo.zstdDecompress(bad, out)).toBe(ZSTD_EIO);
    expect(hostIo.zstdDecompress(frame, out)).toBe(65536);
  });

  test('a frame that asks for a window over 2 MiB (more than any qcow2 cluster) is refused, not allocated', () => {
    // Magic, a header with no content size and a 128 MiB window (exponent 27), one last raw block of 16 bytes.
    const raw = (windowLog: number): Uint8Array => {
      const f = Buffer.alloc(4 + 2 + 3 + 16, 0x41);
      f.writeUInt32LE(0xfd2fb528, 0);
      f[4] = 0;
      f[5] = (windowLog - 10) << 3;
      f.writeUIntLE(1 | (16 << 3), 6, 3);
      return f;
    };
    expect(hostIo.zstdDecompress(raw(27), new Uint8Array(16))).toBe(ZSTD_EIO);
    expect(hostIo.zstdDecompress(raw(21), new Uint8Array(16))).toBe(16);
    const cluster = text(2 << 20);
    expect(hostIo.zstdDecompress(compress(cluster), new Uint8Array(2 << 20))).toBe(2 << 20);
  });

  test('bad arguments are rejected without a throw', () => {
    expect(hostIo.zstdCompress(new Uint16Array(4) as unknown as Uint8Array, new Uint8Array(64), 3)).toBe(-22);
    expect(hostIo.zstdDecompress(new Uint8Array(4), 'x' as unknown as Uint8Array)).toBe(-22);
  });
});
