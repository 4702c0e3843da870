// allocAlignedBuffer: the real address of byte 0 (found through
// /proc/self/mem, Linux) is a multiple of the page size, the buffer is zeroed
// and sized as asked, and bad alignments are refused.
import { describe, expect, it } from 'vitest';
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { allocAlignedBuffer } from '@tsemu/block-core';

const MARK = 32;

/**
 * Address of buf[0]: writes a random marker there, collects every place in the
 * process's writable mappings that holds it, then flips the marker in `buf`
 * and keeps the one place that changed (the marker's own copies do not).
 */
function addressOf(buf: Uint8Array): bigint | undefined {
  const marker = randomBytes(MARK);
  buf.set(marker, 0);
  const fd = openSync('/proc/self/mem', 'r');
  try {
    const found: bigint[] = [];
    for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) rw/.exec(line);
      if (!m) continue;
      const lo = BigInt(`0x${m[1]}`);
      const len = Number(BigInt(`0x${m[2]}`) - lo);
      if (len > 256 << 20) continue;
      const copy = Buffer.alloc(len);
      try {
        readSync(fd, copy, 0, len, lo);
      } catch {
        continue; // e.g. a device mapping that refuses reads
      }
      for (let i = copy.indexOf(marker); i >= 0; i = copy.indexOf(marker, i + 1)) found.push(lo + BigInt(i));
    }
    for (let k = 0; k < MARK; k++) buf[k] ^= 0xff;
    const probe = Buffer.alloc(MARK);
    const hits = found.filter((at) => {
      readSync(fd, probe, 0, MARK, at);
      return probe.every((b, k) => b === (marker[k]! ^ 0xff));
    });
    return hits.length === 1 ? hits[0] : undefined;
  } finally {
    closeSync(fd);
  }
}

describe('allocAlignedBuffer', () => {
  it.runIf(existsSync('/proc/self/mem'))('starts on a page boundary whatever the size', () => {
    for (const size of [512, 4096, 8192, 65536, 1 << 20, 2 << 20]) {
      const buf = allocAlignedBuffer(size);
      const at = addressOf(buf);
      expect(at, `size ${size}`).toBeDefined();
      expect(at! % 4096n, `size ${size}`).toBe(0n);
    }
  });

  it('is zeroed, sized as asked, and writable', () => {
    const buf = allocAlignedBuffer(100_000, 512);
    expect(buf.length).toBe(100_000);
    expect(buf.every((b) => b === 0)).toBe(true);
    buf.fill(0xab);
    expect(buf[99_999]).toBe(0xab);
    expect(allocAlignedBuffer(0).length).toBe(0);
  });

  it('refuses alignments that are not powers of two up to 64 KiB', () => {
    expect(() => allocAlignedBuffer(4096, 3000)).toThrow(RangeError);
    expect(() => allocAlignedBuffer(4096, 1 << 17)).toThrow(RangeError);
  });
});
