import { describe, expect, it } from 'vitest';
import { cFixed, cvtstr, formatReport, hexDump, timestr } from '../src/format.js';

describe('cFixed (C printf %.Nf)', () => {
  it('rounds exact binary ties to even, as glibc does', () => {
    expect(cFixed(2.0625, 3)).toBe('2.062');
    expect(cFixed(2.0635, 3)).toBe('2.063'); // not a tie in binary
    expect(cFixed(0.125, 2)).toBe('0.12');
    expect(cFixed(0.375, 2)).toBe('0.38');
    expect(cFixed(2.5, 0)).toBe('2');
    expect(cFixed(3.5, 0)).toBe('4');
  });
  it('prints inf and large values like C', () => {
    expect(cFixed(Infinity, 3)).toBe('inf');
    expect(cFixed(1e22, 2)).toBe('10000000000000000000000.00');
  });
});

describe('cvtstr', () => {
  it('uses three decimals above a KiB and trims an exact .000', () => {
    expect(cvtstr(65536)).toBe('64 KiB');
    expect(cvtstr(1536)).toBe('1.500 KiB');
    expect(cvtstr(0x1f0000)).toBe('1.938 MiB');
    expect(cvtstr(55.9375 * 2 ** 20)).toBe('55.938 MiB');
    expect(cvtstr(2.0625 * 2 ** 20)).toBe('2.062 MiB');
    expect(cvtstr(2 ** 60)).toBe('1 EiB');
  });
  it('keeps six decimals for bytes', () => {
    expect(cvtstr(0)).toBe('0 bytes');
    expect(cvtstr(512)).toBe('512 bytes');
    expect(cvtstr(157.408621)).toBe('157.408621 bytes');
    expect(cvtstr(1.354750)).toBe('1.354750 bytes');
  });
});

describe('timestr', () => {
  it('prints seconds below one second and H:MM:SS.ss from one second', () => {
    expect(timestr(10_000_000n)).toBe('00.01 sec');
    expect(timestr(4_999_999n)).toBe('00.00 sec');
    expect(timestr(377_930_000_000n)).toBe('0:06:17.93');
    expect(timestr(3_723_500_000_000n)).toBe('1:02:03.50');
  });
  it('uses the fixed form for -C', () => {
    expect(timestr(1_000_000n, true)).toBe('0:00:00.00');
  });
});

describe('formatReport', () => {
  it('prints the two report lines', () => {
    expect(formatReport('wrote', 10_000_000n, 0, 65536, 65536, 1, false)).toBe(
      'wrote 65536/65536 bytes at offset 0\n64 KiB, 1 ops; 00.01 sec (6.250 MiB/sec and 100.0000 ops/sec)\n',
    );
  });
  it('prints the -C line', () => {
    expect(formatReport('read', 500_000_000n, 0, 512, 512, 1, true)).toBe('512,1,0:00:00.50,1024.000,2.000\n');
  });
  it('prints 0 bytes/sec for an empty request', () => {
    expect(formatReport('read', 1_000_000n, 4, 0, 0, 1, false)).toContain('0 bytes, 1 ops; 00.00 sec (0 bytes/sec and 1000.0000 ops/sec)');
  });
});

describe('hexDump', () => {
  it('shows alphanumerics and dots, with a short last line', () => {
    const buf = new Uint8Array([0x41, 0x41, 0x20, 0x7a, 0x5f, 0xff, 0x30, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0x68, 0x69]);
    expect(hexDump(buf, 0x200)).toBe(
      '00000200:  41 41 20 7a 5f ff 30 00 01 02 03 04 05 06 07 08  AA.z..0.........\n' +
      '00000210:  68 69  hi\n',
    );
  });
});
