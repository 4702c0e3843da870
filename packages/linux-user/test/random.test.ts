import { describe, expect, it } from 'vitest';
import { fillRandom } from '../src/random.js';

// fillRandom backs AT_RANDOM and getrandom(2): it must fill exactly the range
// asked for (guest memory around it untouched), also in memory backed by a
// SharedArrayBuffer as GuestMemory is, and give different bytes each time.
describe('fillRandom', () => {
  it('fills exactly [off, off + len) of a shared buffer', () => {
    const u8 = new Uint8Array(new SharedArrayBuffer(4096)).fill(0xa5);
    fillRandom(u8, 100, 3000);
    expect(u8.subarray(0, 100).every((b) => b === 0xa5)).toBe(true);
    expect(u8.subarray(3100).every((b) => b === 0xa5)).toBe(true);
    // 3000 random bytes: all 0xa5 has probability 2^-24000; a fair spread of values is expected.
    expect(new Set(u8.subarray(100, 3100)).size).toBeGreaterThan(200);
  });

  it('gives different bytes on each call', () => {
    const a = new Uint8Array(16), b = new Uint8Array(16);
    fillRandom(a, 0, 16);
    fillRandom(b, 0, 16);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });

  it('does nothing for an empty range', () => {
    const u8 = new Uint8Array(8).fill(7);
    fillRandom(u8, 8, 0);
    expect([...u8]).toEqual([7, 7, 7, 7, 7, 7, 7, 7]);
  });
});
