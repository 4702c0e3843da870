import { describe, expect, it } from 'vitest';
import { cIntOption, parseCInt64, parseCNumber } from '../src/index.js';

describe('QEMU number options', () => {
  it('qemu_strtou64: white space, sign (wrapping), hex, octal; range and junk', () => {
    expect(parseCNumber(' 16')).toBe(16n);
    expect(parseCNumber('0x10')).toBe(16n);
    expect(parseCNumber('020')).toBe(16n);
    expect(parseCNumber('-18446744073709551608')).toBe(8n);
    expect(parseCNumber('-1')).toBe(0xffffffffffffffffn);
    expect(parseCNumber('18446744073709551616')).toBe('range');
    expect(parseCNumber('16k')).toBe('invalid');
    expect(parseCNumber('')).toBe('invalid');
  });

  it('qemu_strtoi64: int64 only', () => {
    expect(parseCInt64('-9223372036854775808')).toBe(-(1n << 63n));
    expect(parseCInt64('9223372036854775808')).toBeUndefined();
    expect(parseCInt64('-18446744073709551608')).toBeUndefined();
    expect(parseCInt64('-0x10')).toBe(-16n);
  });

  it('a C int option keeps the low 32 bits, signed', () => {
    expect(cIntOption('refcount_bits', '4294967304')).toBe(8);
    expect(cIntOption('x', '0xffffffff')).toBe(-1);
    expect(() => cIntOption('refcount_bits', 'abc')).toThrow("Parameter 'refcount_bits' expects a number");
  });
});
