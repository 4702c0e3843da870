// preadv2/pwritev2 with RWF_NOWAIT: page-cache hits complete, misses say EAGAIN
// (proved by dropping the pages with posix_fadvise DONTNEED), and nothing throws.
import { closeSync, fdatasyncSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  dropCachedPages, NOWAIT_EAGAIN, NOWAIT_EINVAL, NOWAIT_EOPNOTSUPP, NOWAIT_IOV_MAX, POSIX_FADV_DONTNEED, hostIo,
} from '@tsemu/host-io';

const dir = mkdtempSync(join(tmpdir(), 'host-io-nowait-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const KiB = 1024;
const EBADF = -9;

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 13 + seed) & 0xff;
  return out;
}

/** Drops the file's cached pages (see dropCachedPages); the test needs them gone. */
async function dropCache(fd: number, probeAt: number, from = 0): Promise<void> {
  expect(await dropCachedPages(fd, probeAt, from)).toBe(true);
}

/** A file holding `data`, written back to disk (so DONTNEED can drop its pages); returns an r+ fd. */
function fileWith(name: string, data: Uint8Array): number {
  const fd = openSync(join(dir, name), 'w+');
  writeSync(fd, data, 0, data.length, 0);
  fdatasyncSync(fd);
  return fd;
}

describe('RWF_NOWAIT reads and writes', () => {
  test('the addon has them', () => {
    expect(hostIo.nowait).toBe(true);
  });

  test('a cached read completes; after DONTNEED the same read is EAGAIN; a blocking read brings it back', async () => {
    // 8 MiB, and the drop's probe (itself a non-blocking read, which starts
    // reading what it misses) at the last page, far from the page read here:
    // with a 256 KiB file and the probe at 0, the probe's readahead had the
    // page back before the read looked (a CI pre-check). And a few attempts,
    // as in the prefix case below: the read's miss is what must be seen.
    const size = 8 << 20;
    const data = pattern(size, 1);
    const fd = fileWith('cached', data);
    try {
      const buf = new Uint8Array(4 * KiB);
      expect(hostIo.preadNowait(fd, buf, 64 * KiB)).toBe(4 * KiB);
      expect(buf).toEqual(data.subarray(64 * KiB, 68 * KiB));

      let r = 0;
      for (let attempt = 0; attempt < 5 && r !== NOWAIT_EAGAIN; attempt++) {
        await dropCache(fd, size - 4 * KiB);
        buf.fill(0xee);
        r = hostIo.preadNowait(fd, buf, 128 * KiB);
        if (r !== NOWAIT_EAGAIN) expect(buf).toEqual(data.subarray(128 * KiB, 132 * KiB)); // a hit still reads right
      }
      expect(r).toBe(NOWAIT_EAGAIN);
      expect(buf.every((b) => b === 0xee)).toBe(true); // nothing was copied

      const back = readFileSync(join(dir, 'cached')); // an ordinary (blocking) read fills the cache again
      expect(back.length).toBe(data.length);
      expect(hostIo.preadNowait(fd, buf, 128 * KiB)).toBe(4 * KiB);
      expect(buf).toEqual(data.subarray(128 * KiB, 132 * KiB));
    } finally {
      closeSync(fd);
    }
  });

  test('only a cached prefix: a short read of that prefix', async () => {
    // Drop everything, bring back the first page, then drop again from 2 MiB
    // on (a 256 KiB and later an 8 MiB file came back whole from one 4 KiB
    // read on this kernel: large folios, readahead). A non-blocking read also
    // starts reading the pages it misses and returns them when that I/O is
    // already done when it looks again (a fast device): so a few attempts,
    // one of which must come back short. A drop's probe is such a read too:
    // it probes the last page, away from the prefix.
    const size = 8 << 20;
    const data = pattern(size, 2);
    const fd = fileWith('prefix', data);
    try {
      const buf = new Uint8Array(size);
      let n = size;
      for (let attempt = 0; attempt < 5 && n === size; attempt++) {
        await dropCache(fd, 0);
        readSync(fd, new Uint8Array(4 * KiB), 0, 4 * KiB, 0);
        await dropCache(fd, size - 4 * KiB, 2 << 20);
        n = hostIo.preadNowait(fd, buf, 0);
        expect(n).toBeGreaterThanOrEqual(4 * KiB);
        expect(buf.subarray(0, n)).toEqual(data.subarray(0, n));
      }
      expect(n).toBeLessThan(size);
    } finally {
      closeSync(fd);
    }
  });

  test('EOF: short read, then 0; `length` limits the transfer', () => {
    const data = pattern(10 * KiB, 3);
    const fd = fileWith('eof', data);
    try {
      const buf = new Uint8Array(8 * KiB).fill(0xee);
      expect(hostIo.preadNowait(fd, buf, 6 * KiB)).toBe(4 * KiB);
      expect(buf.subarray(0, 4 * KiB)).toEqual(data.subarray(6 * KiB));
      expect(buf.subarray(4 * KiB).every((b) => b === 0xee)).toBe(true);
      expect(hostIo.preadNowait(fd, buf, 10 * KiB)).toBe(0);
      buf.fill(0xee);
      expect(hostIo.preadNowait(fd, buf, 0, 100)).toBe(100);
      expect(buf.subarray(0, 100)).toEqual(data.subarray(0, 100));
      expect(buf[100]).toBe(0xee);
      // A subarray reads into its own window of the shared memory.
      const whole = new Uint8Array(300).fill(0xee);
      expect(hostIo.preadNowait(fd, whole.subarray(100, 200), 50)).toBe(100);
      expect(whole.subarray(100, 200)).toEqual(data.subarray(50, 150));
      expect(whole[99]).toBe(0xee);
      expect(whole[200]).toBe(0xee);
    } finally {
      closeSync(fd);
    }
  });

  test('vectored read scatters in order', () => {
    const data = pattern(32 * KiB, 4);
    const fd = fileWith('vec', data);
    try {
      const a = new Uint8Array(100), b = new Uint8Array(5000), c = new Uint8Array(3);
      expect(hostIo.preadvNowait(fd, [a, b, c], 7)).toBe(5103);
      expect(a).toEqual(data.subarray(7, 107));
      expect(b).toEqual(data.subarray(107, 5107));
      expect(c).toEqual(data.subarray(5107, 5110));
    } finally {
      closeSync(fd);
    }
  });

  test('writes: done in full, or refused without a trace (ext4/tmpfs say EOPNOTSUPP for buffered writes)', () => {
    const fd = fileWith('write', new Uint8Array(16 * KiB));
    try {
      const single = pattern(4 * KiB, 5);
      const n = hostIo.pwriteNowait(fd, single, 4 * KiB);
      expect([4 * KiB, NOWAIT_EAGAIN, NOWAIT_EOPNOTSUPP]).toContain(n);
      const a = pattern(100, 6), b = pattern(200, 7);
      const v = hostIo.pwritevNowait(fd, [a, b], 10 * KiB);
      expect([300, NOWAIT_EAGAIN, NOWAIT_EOPNOTSUPP]).toContain(v);
      const file = readFileSync(join(dir, 'write'));
      const expectAt = (at: number, bytes: Uint8Array, written: boolean): void => {
        expect(new Uint8Array(file.subarray(at, at + bytes.length))).toEqual(written ? bytes : new Uint8Array(bytes.length));
      };
      expectAt(4 * KiB, single, n === 4 * KiB);
      expectAt(10 * KiB, a, v === 300);
      expectAt(10 * KiB + 100, b, v === 300);
    } finally {
      closeSync(fd);
    }
  });

  test('bad arguments come back as negative errno values, never as exceptions', () => {
    const fd = fileWith('args', new Uint8Array(4 * KiB));
    try {
      const buf = new Uint8Array(16);
      expect(hostIo.preadNowait(-1, buf, 0)).toBe(EBADF);
      expect(hostIo.preadNowait(fd, buf, -1)).toBe(NOWAIT_EINVAL);
      expect(hostIo.preadNowait(fd, buf, 0, 17)).toBe(NOWAIT_EINVAL); // longer than the buffer
      expect(hostIo.preadNowait(fd, 'text' as unknown as Uint8Array, 0)).toBe(NOWAIT_EINVAL);
      expect(hostIo.preadNowait(fd, new Uint16Array(8) as unknown as Uint8Array, 0)).toBe(NOWAIT_EINVAL);
      expect(hostIo.preadvNowait(fd, [], 0)).toBe(NOWAIT_EINVAL);
      expect(hostIo.preadvNowait(fd, [buf, 'x' as unknown as Uint8Array], 0)).toBe(NOWAIT_EINVAL);
      const many = Array.from({ length: NOWAIT_IOV_MAX + 1 }, () => new Uint8Array(1));
      expect(hostIo.preadvNowait(fd, many, 0)).toBe(NOWAIT_EINVAL);
      expect(hostIo.preadvNowait(fd, many.slice(1), 0)).toBe(NOWAIT_IOV_MAX);
      expect(hostIo.fadvise(-1, 0, 0, POSIX_FADV_DONTNEED)).toBe(EBADF);
    } finally {
      closeSync(fd);
    }
  });
});
