import { describe, expect, it } from 'vitest';
import { cvtnum, cvtnumError, parsePattern, strtolWhole } from '../src/numbers.js';

const value = (s: string): number | string => {
  const r = cvtnum(s);
  return r.ok ? r.value : r.error;
};

describe('cvtnum (qemu_strtosz rules)', () => {
  it('reads plain, suffixed and hex sizes', () => {
    expect(value('512')).toBe(512);
    expect(value('64k')).toBe(65536);
    expect(value('1M')).toBe(1 << 20);
    expect(value('1b')).toBe(1);
    expect(value('010')).toBe(10);
    expect(value('0x10')).toBe(16);
    expect(value('+5')).toBe(5);
    expect(value('7E')).toBe(7 * 2 ** 60);
  });
  it('rounds fractions of a unit to the nearest byte', () => {
    expect(value('1.5k')).toBe(1536);
    expect(value('0.1k')).toBe(102);
    expect(value('1.2345678k')).toBe(1264);
    expect(value('1.9999999999k')).toBe(2048);
    expect(value('0.00048828125k')).toBe(1);
    expect(value('1.k')).toBe(1024);
    expect(value('1.')).toBe(1);
    expect(value('1.5e')).toBe(1.5 * 2 ** 60);
  });
  it('rejects what qemu rejects, telling syntax from range', () => {
    for (const bad of ['abc', '-1', '0.5', '1.5', '1.1b', '1e3', '1kB', 'k', '.5k', '0x', '0x1.5', '00x10', '', '1.5e-1k']) {
      expect(value(bad), bad).toBe('EINVAL');
    }
    for (const big of ['8E', '16E', '99999999999999999999']) expect(value(big), big).toBe('ERANGE');
  });
  it('warns about a suffix on hex', () => {
    const r = cvtnum('0x10k');
    expect(r).toMatchObject({ ok: true, value: 16384 });
    expect(r.warning).toBe('qemu-io: warning: Using a multiplier suffix on hex numbers is deprecated: 0x10k');
  });
  it('words the errors as qemu-io', () => {
    expect(cvtnumError('EINVAL', 'x')).toBe('Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- x');
    expect(cvtnumError('ERANGE', '8E')).toBe('Parsing error: argument too large -- 8E');
  });
});

describe('patterns and strtol', () => {
  it('accepts bytes in decimal, octal and hex', () => {
    expect(parsePattern('0xab')).toBe(0xab);
    expect(parsePattern('010')).toBe(8);
    expect(parsePattern('255')).toBe(255);
    expect(parsePattern('0')).toBe(0);
  });
  it('rejects non-bytes', () => {
    for (const bad of ['0xzz', '256', '-1', '0x1ff', '09', 'a', '0x']) expect(parsePattern(bad), bad).toBeUndefined();
  });
  it('strtolWhole follows base 0', () => {
    expect(strtolWhole('0x10')).toBe(16);
    expect(strtolWhole('-1')).toBe(-1);
    expect(strtolWhole('10k')).toBeUndefined();
  });
});
