// mapRead/unmap: read-only page-cache views of a file. The bytes match the
// file, ranges past EOF and unaligned offsets are refused, residentOnly
// refuses uncached pages (dropped with DONTNEED), and unmap detaches.
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { dropCachedPages, MAP_EAGAIN, MAP_ERANGE, NOWAIT_EINVAL, hostIo } from '@tsemu/host-io';

const dir = mkdtempSync(join(tmpdir(), 'host-io-mmap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ENODEV = -19;
const ENOMEM = -12;

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + seed) & 0xff;
  return out;
}

function fileWith(name: string, data: Uint8Array): number {
  const fd = openSync(join(dir, name), 'w+');
  writeSync(fd, data, 0, data.length, 0);
  fdatasyncSync(fd);
  return fd;
}

function map(fd: number, offset: number, length: number, residentOnly = false): ArrayBuffer {
  const r = hostIo.mapRead(fd, offset, length, residentOnly);
  if (typeof r === 'number') throw new Error(`mapRead failed: ${r}`);
  return r;
}

describe('read-only mappings', () => {
  const page = hostIo.pageSize;

  test('the addon has them', () => {
    expect(hostIo.mmap).toBe(true);
    expect(page & (page - 1)).toBe(0);
  });

  test('a mapping shows the file bytes at its offset, and unmap detaches it', () => {
    const data = pattern(5 * page + 100, 3);
    const fd = fileWith('a', data);
    try {
      const ab = map(fd, 2 * page, 3 * page + 100, true);
      const view = new Uint8Array(ab);
      expect(view.length).toBe(3 * page + 100);
      expect(Buffer.compare(view, data.subarray(2 * page))).toBe(0);
      expect(hostIo.unmap(ab)).toBe(0);
      expect(ab.byteLength).toBe(0);
      expect(view.length).toBe(0);
      expect(hostIo.unmap(ab)).toBe(NOWAIT_EINVAL);
    } finally {
      closeSync(fd);
    }
  });

  test('refuses unaligned offsets, empty ranges, ranges past EOF and non-regular files', () => {
    const fd = fileWith('b', pattern(2 * page, 1));
    try {
      expect(hostIo.mapRead(fd, 1, 100, false)).toBe(NOWAIT_EINVAL);
      expect(hostIo.mapRead(fd, 0, 0, false)).toBe(NOWAIT_EINVAL);
      expect(hostIo.mapRead(fd, page, page + 1, false)).toBe(MAP_ERANGE);
      expect(hostIo.mapRead(fd, 4 * page, 1, false)).toBe(MAP_ERANGE);
      const ab = map(fd, page, page);
      expect(new Uint8Array(ab)[0]).toBe(pattern(2 * page, 1)[page]);
      expect(hostIo.unmap(ab)).toBe(0);
      expect(hostIo.unmap(new ArrayBuffer(8))).toBe(NOWAIT_EINVAL);
    } finally {
      closeSync(fd);
    }
    const devNull = openSync('/dev/null', 'r');
    try {
      expect(hostIo.mapRead(devNull, 0, 1, false)).toBe(ENODEV);
    } finally {
      closeSync(devNull);
    }
  });

  test('residentOnly refuses a range whose pages are not cached; without it the pages come from the disk', async () => {
    const data = pattern(16 * page, 9);
    const fd = fileWith('c', data);
    try {
      expect(await dropCachedPages(fd, 0)).toBe(true);
      expect(hostIo.mapRead(fd, 0, 16 * page, true)).toBe(MAP_EAGAIN);
      const ab = map(fd, 0, 16 * page, false);
      expect(Buffer.compare(new Uint8Array(ab), data)).toBe(0);
      expect(hostIo.unmap(ab)).toBe(0);
      // The read above brought the pages back.
      const again = map(fd, 0, 16 * page, true);
      expect(hostIo.unmap(again)).toBe(0);
    } finally {
      closeSync(fd);
    }
  });

  test('at most 256 mappings are live at once; unmapping one makes room', () => {
    const fd = fileWith('d', pattern(page, 5));
    const live: ArrayBuffer[] = [];
    try {
      for (;;) {
        const r = hostIo.mapRead(fd, 0, page, false);
        if (typeof r === 'number') {
          expect(r).toBe(ENOMEM);
          break;
        }
        live.push(r);
        expect(live.length).toBeLessThanOrEqual(256);
      }
      // Mappings the garbage collector has not reclaimed yet may hold slots from earlier tests.
      expect(live.length).toBeGreaterThan(200);
      expect(hostIo.unmap(live.pop()!)).toBe(0);
      const r = map(fd, 0, page);
      expect(new Uint8Array(r)[1]).toBe(pattern(page, 5)[1]);
      live.push(r);
    } finally {
      for (const ab of live) expect(hostIo.unmap(ab)).toBe(0);
      closeSync(fd);
    }
  });
});
