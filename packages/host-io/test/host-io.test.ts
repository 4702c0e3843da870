import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, hostIo } from '@tsemu/host-io';

const dir = mkdtempSync(join(tmpdir(), 'host-io-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MiB = 1 << 20;

describe('host-io native addon', () => {
  test('is built by the workspace install (CI builds it with cc)', () => {
    expect(hostIo.available).toBe(true);
  });

  test('SEEK_DATA / SEEK_HOLE find the data in a sparse file', async () => {
    const path = join(dir, 'sparse');
    const fh = await open(path, 'w+');
    try {
      await fh.truncate(8 * MiB);
      await fh.write(new Uint8Array(64 * 1024).fill(1), 0, 64 * 1024, 2 * MiB);
      expect(hostIo.seekData(fh.fd, 0)).toBe(2 * MiB);
      expect(hostIo.seekHole(fh.fd, 2 * MiB)).toBe(2 * MiB + 64 * 1024);
      expect(hostIo.seekData(fh.fd, 3 * MiB)).toBe(-1);
      expect(hostIo.seekHole(fh.fd, 3 * MiB)).toBe(3 * MiB); // already in a hole
      expect(hostIo.seekHole(fh.fd, 8 * MiB)).toBe(-1); // at EOF: ENXIO
    } finally {
      await fh.close();
    }
  });

  test('punching a hole frees blocks and reads back zeroes; size is kept', async () => {
    const path = join(dir, 'punch');
    const fh = await open(path, 'w+');
    try {
      await fh.write(new Uint8Array(4 * MiB).fill(7), 0, 4 * MiB, 0);
      await fh.datasync();
      const before = statSync(path).blocks;
      hostIo.fallocate(fh.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, MiB, 2 * MiB);
      expect(statSync(path).blocks).toBeLessThan(before);
      expect(statSync(path).size).toBe(4 * MiB);
      const back = new Uint8Array(2 * MiB);
      await fh.read(back, 0, 2 * MiB, MiB);
      expect(back.every((b) => b === 0)).toBe(true);
      expect(hostIo.seekHole(fh.fd, 0)).toBe(MiB);
    } finally {
      await fh.close();
    }
  });

  test('ZERO_RANGE zeroes without a write; errors carry the errno name', async () => {
    const path = join(dir, 'zero');
    const fh = await open(path, 'w+');
    try {
      await fh.write(new Uint8Array(MiB).fill(9), 0, MiB, 0);
      hostIo.fallocate(fh.fd, FALLOC_FL_ZERO_RANGE, 4096, 8192);
      const back = new Uint8Array(3 * 4096);
      await fh.read(back, 0, back.length, 0);
      expect(back.subarray(0, 4096).every((b) => b === 9)).toBe(true);
      expect(back.subarray(4096, 12288).every((b) => b === 0)).toBe(true);
      expect(() => hostIo.fallocate(fh.fd, FALLOC_FL_PUNCH_HOLE, 0, 4096)).toThrow(expect.objectContaining({ code: 'ENOTSUP' }));
      expect(() => hostIo.fallocate(-1, 0, 0, 4096)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    } finally {
      await fh.close();
    }
  });
});
