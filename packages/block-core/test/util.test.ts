import { describe, expect, test } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { formatIoSize, isAllZero, parseOptionString, parseSize, sizeToStr } from '../src/util/index.js';

describe('parseSize', () => {
  test.each([
    ['512', 512], ['64k', 65536], ['64K', 65536], ['64M', 64 << 20], ['1G', 2 ** 30], ['1.5G', 1.5 * 2 ** 30],
    ['2T', 2 * 2 ** 40], ['1E', 2 ** 60], ['0x200', 512], ['100b', 100], ['0', 0],
  ])('%s = %d', (text, bytes) => expect(parseSize(text)).toBe(bytes));

  test.each(['1Q', '-1', '', 'abc', '1.5', ' 1', '1M ', '0x', '1.2.3M'])('rejects %j', (text) => {
    expect(() => parseSize(text)).toThrow();
  });

  test('rejects sizes from 8 EiB up', () => {
    expect(() => parseSize('8E')).toThrow(expect.objectContaining({ code: 'ERANGE' }));
  });
});

describe('sizeToStr (qemu-img info)', () => {
  test.each([
    [0, '0 B'], [512, '512 B'], [999, '999 B'], [1000, '0.977 KiB'], [65536, '64 KiB'], [471040, '460 KiB'],
    [139264, '136 KiB'], [67108864, '64 MiB'], [1073741824, '1 GiB'], [331776, '324 KiB'], [1.5 * 2 ** 30, '1.5 GiB'],
  ])('%d -> %s', (bytes, text) => expect(sizeToStr(bytes)).toBe(text));
});

describe('formatIoSize (qemu-io)', () => {
  test.each([
    [32, '32 bytes'], [0, '0 bytes'], [65536, '64 KiB'], [0x1f0000, '1.938 MiB'], [0x37f0000, '55.938 MiB'],
    [0x120000, '1.125 MiB'], [0x210000, '2.062 MiB'], [3072, '3 KiB'], [0x3ff0000, '63.938 MiB'], [2 ** 26, '64 MiB'],
  ])('%d -> %s', (bytes, text) => expect(formatIoSize(bytes)).toBe(text));
});

describe('parseOptionString', () => {
  test('dotted keys and ,, escapes', () => {
    expect(parseOptionString('driver=raw,file.filename=a,,b.img,offset=512')).toEqual({
      driver: 'raw', 'file.filename': 'a,b.img', offset: '512',
    });
  });
  test('bare key is on; implied key takes the first bare token', () => {
    expect(parseOptionString('help')).toEqual({ help: 'on' });
    expect(parseOptionString('disk.img,format=raw', 'file')).toEqual({ file: 'disk.img', format: 'raw' });
  });
  test('empty value and last-wins', () => {
    expect(parseOptionString('a=,a=2,b=')).toEqual({ a: '2', b: '' });
  });
  fcTest.prop([fc.dictionary(fc.stringMatching(/^[a-z][a-z.-]{0,8}$/), fc.string({ maxLength: 12 }))])(
    'round-trips values containing commas',
    (dict) => {
      const text = Object.entries(dict).map(([k, v]) => `${k}=${v.replaceAll(',', ',,')}`).join(',');
      expect(parseOptionString(text)).toEqual(Object.keys(dict).length ? { ...dict } : {});
    },
  );
});

describe('isAllZero', () => {
  fcTest.prop([fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 7 }), fc.option(fc.integer({ min: 0, max: 199 }))])(
    'finds a single non-zero byte anywhere, at any alignment',
    (len, skew, hot) => {
      const buf = new Uint8Array(len + skew).subarray(skew);
      if (hot !== null && hot < len) buf[hot] = 1;
      expect(isAllZero(buf)).toBe(!(hot !== null && hot < len));
    },
  );
});

describe('C printf rounding', () => {
  test('ties go to even, as glibc does', async () => {
    const { cFixed, cGeneral } = await import('../src/util/index.js');
    expect(cFixed(2.0625, 3)).toBe('2.062');
    expect(cFixed(2.0635, 3)).toBe('2.063'); // 2.0635 is 2.06349999... in binary
    expect(cFixed(0.5, 0)).toBe('0');
    expect(cFixed(1.5, 0)).toBe('2');
    expect(cFixed(9.99951, 3)).toBe('10.000');
    expect(cGeneral(1.9375, 3)).toBe('1.94');
    expect(cGeneral(999.9, 3)).toBe('1e+03');
    expect(cGeneral(0.9765625, 3)).toBe('0.977');
    expect(cGeneral(460, 3)).toBe('460');
  });
});
