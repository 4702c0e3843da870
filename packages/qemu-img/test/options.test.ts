import { describe, expect, it } from 'vitest';
import { CommandError } from '../src/io.js';
import { parseCache, parseImageSize, parseOutputFormat, parseSizeParam, parseSparseSize, wantsOptionHelp } from '../src/options.js';

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CommandError);
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

describe('option values', () => {
  it('parses image sizes with suffixes', () => {
    expect(parseImageSize('64M')).toBe(64 * 1024 * 1024);
    expect(parseImageSize('1.5M')).toBe(1572864);
    expect(parseImageSize('100')).toBe(100);
    expect(parseImageSize('0x10')).toBe(16);
  });

  it('gives the two-line complaint for bad sizes and the range one for huge sizes', () => {
    const hint =
      'Invalid image size specified. You may use k, M, G, T, P or E suffixes for\n' +
      'qemu-img: kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.';
    expect(message(() => parseImageSize('1Q'))).toBe(hint);
    expect(message(() => parseImageSize('-1'))).toBe(hint);
    expect(message(() => parseImageSize('8E'))).toBe('Invalid image size specified. Must be between 0 and 9223372036854775807.');
  });

  it('reads QemuOpts sizes up to 2^64 and rejects beyond', () => {
    expect(parseSizeParam('9E')).toBe(9n << 60n);
    expect(message(() => parseSizeParam('16E'))).toBe("Value '16E' is out of range for parameter 'size'");
    expect(message(() => parseSizeParam('abc'))).toMatch(/^Parameter 'size' expects a non-negative number below 2\^64\n/);
  });

  it('validates -S', () => {
    expect(parseSparseSize('4k')).toBe(4096);
    expect(parseSparseSize('0')).toBe(0);
    expect(message(() => parseSparseSize('100'))).toMatch(/Valid sizes are multiples of 512 up to 16777216/);
    expect(message(() => parseSparseSize('32M'))).toMatch(/Valid sizes are multiples of 512 up to 16777216/);
  });

  it('validates --output and cache modes', () => {
    expect(parseOutputFormat('json')).toBe('json');
    expect(message(() => parseOutputFormat('xml'))).toBe('--output must be used with human or json as argument.');
    expect(parseCache('off', false)).toBe('none');
    expect(message(() => parseCache('bogus', false))).toBe('Invalid cache option: bogus');
    expect(message(() => parseCache('bogus', true))).toBe('Invalid source cache option: bogus');
  });

  it('spots -o help anywhere in the list', () => {
    expect(wantsOptionHelp('size=1M,help')).toBe(true);
    expect(wantsOptionHelp('?')).toBe(true);
    expect(wantsOptionHelp('preallocation=full')).toBe(false);
    expect(wantsOptionHelp(undefined)).toBe(false);
  });
});
