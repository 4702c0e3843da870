import { describe, expect, it } from 'vitest';
import { cHexAlt } from '../src/c-format.js';

describe("printf's %#x, as QEMU's corruption messages use it", () => {
  it('prints zero bare and other values with 0x', () => {
    expect(cHexAlt(0)).toBe('0');
    expect(cHexAlt(1)).toBe('0x1');
    expect(cHexAlt(0x10200)).toBe('0x10200');
    expect(cHexAlt(2 ** 40)).toBe('0x10000000000');
  });
});
