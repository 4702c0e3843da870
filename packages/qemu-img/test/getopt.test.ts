import { describe, expect, it } from 'vitest';
import { getopt, UsageError, type GetoptSpec } from '../src/getopt.js';

const INFO: GetoptSpec = {
  short: ':f:hU',
  long: [
    { name: 'help', arg: 'none', key: 'h' },
    { name: 'output', arg: 'required', key: 'output' },
    { name: 'object', arg: 'required', key: 'object' },
    { name: 'backing-chain', arg: 'none', key: 'backing-chain' },
  ],
};

function usageMessage(args: string[], spec = INFO): string {
  try {
    getopt('info', args, spec);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('expected a usage error');
}

describe('getopt', () => {
  it('reads glued and separate short option arguments', () => {
    expect(getopt('info', ['-fraw', 'a.img'], INFO)).toEqual({ options: [{ key: 'f', arg: 'raw' }], operands: ['a.img'] });
    expect(getopt('info', ['-f', 'raw', 'a.img'], INFO).options).toEqual([{ key: 'f', arg: 'raw' }]);
    expect(getopt('info', ['-Ufraw', 'a.img'], INFO).options).toEqual([{ key: 'U' }, { key: 'f', arg: 'raw' }]);
  });

  it('reads --opt=value and --opt value', () => {
    expect(getopt('info', ['--output=json', 'a'], INFO).options).toEqual([{ key: 'output', arg: 'json' }]);
    expect(getopt('info', ['--output', 'json', 'a'], INFO).options).toEqual([{ key: 'output', arg: 'json' }]);
  });

  it('accepts unambiguous long option prefixes and rejects ambiguous ones', () => {
    expect(getopt('info', ['--out=json', 'a'], INFO).options).toEqual([{ key: 'output', arg: 'json' }]);
    expect(usageMessage(['--o=json', 'a'])).toBe("unrecognized option '--o=json'");
  });

  it('permutes options after operands', () => {
    expect(getopt('info', ['a.img', '--output=json', '-f', 'raw'], INFO)).toEqual({
      options: [{ key: 'output', arg: 'json' }, { key: 'f', arg: 'raw' }],
      operands: ['a.img'],
    });
  });

  it('stops at -- and treats "-" as an operand', () => {
    expect(getopt('info', ['--', '-f'], INFO).operands).toEqual(['-f']);
    expect(getopt('info', ['-'], INFO).operands).toEqual(['-']);
  });

  it('quotes argv[optind-1] like glibc in unknown-option errors', () => {
    expect(usageMessage(['-x', 'a'])).toBe("unrecognized option '-x'");
    expect(usageMessage(['-Ux', 'a'])).toBe("unrecognized option '-Ux'");
    // The bad letter is not the last one: optind has not moved past the word.
    expect(usageMessage(['-xU', 'a'])).toBe("unrecognized option 'info'");
    expect(usageMessage(['a.img', '-xU'])).toBe("unrecognized option 'a.img'");
    expect(usageMessage(['-fraw', '-qU', 'a'])).toBe("unrecognized option '-fraw'");
    expect(usageMessage(['--bogus'])).toBe("unrecognized option '--bogus'");
    expect(usageMessage(['--backing-chain=1'])).toBe("unrecognized option '--backing-chain=1'");
  });

  it('reports missing arguments', () => {
    expect(usageMessage(['-f'])).toBe("missing argument for option '-f'");
    expect(usageMessage(['--output'])).toBe("missing argument for option '--output'");
  });

  it('stops at the first operand when asked (top-level parsing)', () => {
    const top: GetoptSpec = { short: ':hVT:', stopAtOperand: true };
    expect(getopt('qemu-img', ['info', '-f', 'raw', 'x'], top)).toEqual({ options: [], operands: ['info', '-f', 'raw', 'x'] });
  });
});
