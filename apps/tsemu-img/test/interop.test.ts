// tsemu-img against the real qemu-img 7.2 on the same inputs: same stdout,
// stderr and exit status, and equivalent images.
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocated, qemuMap, run, sha256, SideBySide, TSEMU_IMG } from './harness.js';

let w: SideBySide;

beforeAll(() => {
  w = new SideBySide();
  // src.raw: data, a hole, data, written zeroes, data, a hole (8 MiB).
  w.both('qemu-img', ['create', '-f', 'raw', 'src.raw', '8M']);
  w.both('qemu-io', ['-f', 'raw', '-c', 'write -P 0xab 0 64k', '-c', 'write -P 0xcd 1M 128k', '-c', 'write -P 0 2M 64k',
    '-c', 'write -P 0x11 3M 4k', 'src.raw']);
  // unaligned.raw: all data, with written zero runs at odd offsets and lengths.
  w.both('qemu-img', ['create', '-f', 'raw', 'unaligned.raw', '1M']);
  w.both('qemu-io', ['-f', 'raw', '-c', 'write -P 0x11 0 1M', '-c', 'write -P 0 5000 15000', '-c', 'write -P 0 100000 4096',
    '-c', 'write -P 0 204800 8192', '-c', 'write -P 0 300000 1024', '-c', 'write -P 0 512000 300000', 'unaligned.raw']);
  // full.raw: every byte data, so block status cannot differ between the tools.
  w.both('qemu-img', ['create', '-f', 'raw', 'full.raw', '12M']);
  w.both('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5a 0 12M', 'full.raw']);
});

afterAll(() => w.cleanup());

function expectSame(args: string[]): void {
  const { qemu, tsemu } = w.compare(args);
  expect(tsemu, args.join(' ')).toEqual(qemu);
}

describe('create', () => {
  it.each([
    [['create', '-f', 'raw', 'a.raw', '64M']],
    [['create', 'b.raw', '1.5M']],
    [['create', '-f', 'raw', '-o', 'preallocation=full', 'c.raw', '1M']],
    [['create', '-f', 'raw', '-o', 'preallocation=falloc,size=2M', 'd.raw']],
    [['create', '-q', '-f', 'raw', 'e.raw', '1k']],
  ])('%j prints what qemu-img prints and makes a file of the same size', (args) => {
    expectSame(args);
    const name = args.find((a) => a.endsWith('.raw'))!;
    expect(statSync(`${w.t}/${name}`).size).toBe(statSync(`${w.q}/${name}`).size);
  });

  it('preallocation=full allocates the whole file', () => {
    expect(allocated(`${w.t}/c.raw`)).toBeGreaterThanOrEqual(1024 * 1024);
  });
});

describe('info', () => {
  it.each([
    [['info', 'src.raw']],
    [['info', '-f', 'raw', 'src.raw']],
    [['info', '--output=json', 'src.raw']],
    [['info', '--output', 'json', '-fraw', 'src.raw']],
    [['info', 'src.raw', '--backing-chain']],
    [['info', '--backing-chain', '--output=json', 'src.raw']],
    [['info', 'full.raw']],
  ])('%j matches qemu-img', (args) => expectSame(args));
});

describe('check', () => {
  it.each([[['check', 'src.raw']], [['check', '--output=json', 'src.raw']], [['check', '-f', 'raw', '-r', 'all', 'src.raw']]])(
    '%j says raw has no checks, exit 63',
    (args) => {
      const { qemu, tsemu } = w.compare(args);
      expect(tsemu).toEqual(qemu);
      expect(tsemu.code).toBe(63);
    },
  );
});

describe('resize', () => {
  it('follows the same sequence of grows and shrinks, including the probing warning', () => {
    w.both('qemu-img', ['create', '-f', 'raw', 'r.raw', '1M']);
    const steps = [
      ['resize', 'r.raw', '2M'],
      ['resize', '-f', 'raw', 'r.raw', '+1M'],
      ['resize', '-f', 'raw', 'r.raw', '1M'],
      ['resize', '-f', 'raw', 'r.raw', '-1M'],
      ['resize', '-f', 'raw', '--shrink', 'r.raw', '--', '-1M'],
      ['resize', '-f', 'raw', '--shrink', 'r.raw', '1536K'],
      ['resize', '-q', '-f', 'raw', 'r.raw', '4M'],
      ['resize', '-f', 'raw', '--preallocation=full', 'r.raw', '5M'],
    ];
    for (const args of steps) {
      expectSame(args);
      expect(statSync(`${w.t}/r.raw`).size, args.join(' ')).toBe(statSync(`${w.q}/r.raw`).size);
    }
    expect(w.tsemu(['resize', 'r.raw', '6M']).stderr).toContain("WARNING: Image format was not specified for 'r.raw' and probing guessed raw.");
  });
});

describe('convert', () => {
  it.each([
    [['convert', '-f', 'raw', '-O', 'raw', 'src.raw', 'out1.raw'], 'out1.raw'],
    [['convert', 'src.raw', 'out2.raw'], 'out2.raw'],
    // Larger -S on this sparse source would differ: block-core reports raw holes as data (no SEEK_HOLE).
    [['convert', '-S', '4096', '-m', '2', 'src.raw', 'out3.raw'], 'out3.raw'],
    [['convert', '-W', '-m', '16', '-t', 'none', '-T', 'writeback', 'src.raw', 'out4.raw'], 'out4.raw'],
  ])('%j leaves the same content and the same holes as qemu-img', (args, out) => {
    expectSame(args);
    expect(qemuMap(`${w.t}/${out}`)).toBe(qemuMap(`${w.q}/${out}`));
    expect(run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', `${w.q}/${out}`, `${w.t}/${out}`], '/').stdout).toBe('Images are identical.\n');
    // The zero runs stayed holes: far less than the 8 MiB image is allocated.
    expect(allocated(`${w.t}/${out}`)).toBeLessThan(1024 * 1024);
  });

  it.each(['512', '4k', '8k', '12k', '64k'])('-S %s trims unaligned zero runs to the same holes', (size) => {
    const out = `unaligned-${size}.raw`;
    expectSame(['convert', '-S', size, '-f', 'raw', 'unaligned.raw', out]);
    expect(qemuMap(`${w.t}/${out}`)).toBe(qemuMap(`${w.q}/${out}`));
    expect(qemuMap(`${w.t}/${out}`)).toContain('"zero": true');
  });

  it('-S 0 allocates the whole target', () => {
    expectSame(['convert', '-S', '0', 'src.raw', 'full-alloc.raw']);
    expect(allocated(`${w.t}/full-alloc.raw`)).toBeGreaterThanOrEqual(8 * 1024 * 1024);
  });

  it('-p prints qemu-img\'s progress lines', () => {
    const { qemu, tsemu } = w.compare(['convert', '-p', '-f', 'raw', '-O', 'raw', 'full.raw', 'progress.raw']);
    expect(tsemu).toEqual(qemu);
    expect(tsemu.stdout).toMatch(/^ {4}\(0\.00\/100%\)\r[^]* {4}\(100\.00\/100%\)\r {4}\(100\.00\/100%\)\r\n$/);
  });

  it('-n writes into an existing image, zeroing what the source does not hold', () => {
    w.both('qemu-img', ['create', '-f', 'raw', 'existing.raw', '16M']);
    w.both('qemu-io', ['-f', 'raw', '-c', 'write -P 0xee 0 16M', 'existing.raw']);
    expectSame(['convert', '-n', '-O', 'raw', 'src.raw', 'existing.raw']);
    const cmp = run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', `${w.t}/src.raw`, `${w.t}/existing.raw`], '/');
    expect(cmp.stdout).toBe('Warning: Image size mismatch!\nContent mismatch at offset 8388608!\n');
    expect(run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', `${w.q}/existing.raw`, `${w.t}/existing.raw`], '/').code).toBe(0);
  });

  it('concatenates several sources', () => {
    expectSame(['convert', '-f', 'raw', 'src.raw', 'full.raw', 'cat.raw']);
    expect(statSync(`${w.t}/cat.raw`).size).toBe(20 * 1024 * 1024);
    expect(run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', `${w.q}/cat.raw`, `${w.t}/cat.raw`], '/').code).toBe(0);
  });
});

describe('bench', () => {
  const timing = (text: string): string => text.replace(/completed in [0-9.]+ seconds/, 'completed in T seconds');

  it.each([
    [['bench', '-c', '100', '-f', 'raw', 'full.raw']],
    [['bench', '-w', '-c', '40', '-d', '4', '-s', '64k', '-S', '128k', '-o', '1M', '--pattern=0xab', '-f', 'raw', 'bench.raw']],
    [['bench', '-w', '-c', '10', '-d', '2', '--flush-interval=2', '-f', 'raw', 'bench.raw']],
    // -S 0 steps by the buffer size, as qemu-img's `step ?: bufsize`.
    [['bench', '-w', '-c', '3', '-S', '0', '--pattern=0x5c', '-f', 'raw', 'bench.raw']],
  ])('%j prints the same lines (timing aside) and leaves the same file', (args) => {
    w.both('qemu-img', ['create', '-f', 'raw', 'bench.raw', '8M']);
    const { qemu, tsemu } = w.compare(args);
    expect({ ...tsemu, stdout: timing(tsemu.stdout) }).toEqual({ ...qemu, stdout: timing(qemu.stdout) });
    expect(sha256(`${w.t}/bench.raw`)).toBe(sha256(`${w.q}/bench.raw`));
  });

  it('writes the pattern where the requests go, and fails like qemu-img past the end', () => {
    w.both('qemu-img', ['create', '-f', 'raw', 'bench.raw', '8M']);
    expect(w.tsemu(['bench', '-w', '-c', '2', '-s', '64k', '-S', '128k', '-o', '1M', '--pattern=0xab', '-f', 'raw', 'bench.raw']).code).toBe(0);
    const r = run('qemu-io', ['-f', 'raw', '-c', 'read -P 0xab 1M 64k', '-c', 'read -P 0xab 1152k 64k', '-c', 'read -P 0 1088k 64k', 'bench.raw'], w.t);
    expect(r.stdout).not.toContain('Pattern verification failed');
    expectSame(['bench', '-c', '5', '-o', '12M', '-f', 'raw', 'full.raw']);
  });
});

describe('dd', () => {
  it.each([
    [['dd', 'if=src.raw', 'of=dd1.raw'], 'dd1.raw'],
    [['dd', '-O', 'raw', 'bs=1M', 'count=2', 'if=src.raw', 'of=dd2.raw'], 'dd2.raw'],
    [['dd', 'skip=2', 'count=4', 'bs=1M', 'if=src.raw', 'of=dd3.raw'], 'dd3.raw'],
    [['dd', 'bs=64k', 'skip=16', 'count=4', 'if=src.raw', 'of=dd4.raw'], 'dd4.raw'],
    [['dd', 'bs=1k', 'bs=4k', 'count=1', 'if=src.raw', 'of=dd5.raw'], 'dd5.raw'],
  ])('%j copies the same bytes as qemu-img', (args, out) => {
    expectSame(args);
    expect(sha256(`${w.t}/${out}`)).toBe(sha256(`${w.q}/${out}`));
  });
});

describe('measure', () => {
  it.each([
    [['measure', '-O', 'raw', 'src.raw']],
    [['measure', '--output=json', 'src.raw']],
    [['measure', '--size', '1G']],
    [['measure', '--output=json', '--size', '100', '-O', 'raw']],
  ])('%j matches qemu-img', (args) => expectSame(args));
});

describe('compare and map on fully allocated images', () => {
  it.each([
    [['compare', 'full.raw', 'full.raw']],
    [['compare', '-f', 'raw', '-F', 'raw', 'full.raw', 'src.raw']],
    [['compare', '-p', '-f', 'raw', '-F', 'raw', 'full.raw', 'full.raw']],
    [['compare', '-s', '-f', 'raw', '-F', 'raw', 'full.raw', 'src.raw']],
    [['map', '-f', 'raw', 'full.raw']],
    [['map', '--output=json', '-f', 'raw', 'full.raw']],
    [['map', '--output=json', '--start-offset=1M', '--max-length=2M', '-f', 'raw', 'full.raw']],
  ])('%j matches qemu-img', (args) => expectSame(args));
});

// Holes come from SEEK_DATA/SEEK_HOLE (the host-io addon), so sparse images map as qemu-img maps them.
describe('map, info and compare on sparse images', () => {
  beforeAll(() => {
    // A punched hole in the middle (discard) and an odd, sub-sector file size.
    w.both('qemu-img', ['create', '-f', 'raw', 'holes.raw', '16M']);
    w.both('qemu-io', ['-f', 'raw', '-c', 'write -P 0x11 0 4M', '-c', 'discard 1M 1M', '-c', 'write -z -u 3M 512k',
      '-c', 'write -P 0x22 9M 64k', 'holes.raw']);
    w.both('truncate', ['-s', '3145828', 'odd.raw']);
  });

  it.each([
    [['map', '-f', 'raw', 'src.raw']],
    [['map', '--output=json', '-f', 'raw', 'src.raw']],
    [['map', '--output=json', '-f', 'raw', 'holes.raw']],
    [['map', '-f', 'raw', 'holes.raw']],
    [['info', 'odd.raw']],
    [['compare', '-f', 'raw', '-F', 'raw', 'src.raw', 'holes.raw']],
    [['compare', '-p', '-f', 'raw', '-F', 'raw', 'holes.raw', 'holes.raw']],
  ])('%j matches qemu-img', (args) => expectSame(args));

  it('info --output=json equals qemu-img\'s for the very same sparse file (actual-size included)', () => {
    // Same file for both tools: two copies made by qemu-io may be allocated differently by ext4.
    const args = ['info', '--output=json', 'holes.raw'];
    expect(run(TSEMU_IMG, args, w.q)).toEqual(run('qemu-img', args, w.q));
  });

  it('convert of a sparse image gives the same map as qemu-img convert', () => {
    expectSame(['convert', '-f', 'raw', '-O', 'raw', 'holes.raw', 'holes-copy.raw']);
    expect(qemuMap(`${w.t}/holes-copy.raw`)).toBe(qemuMap(`${w.q}/holes-copy.raw`));
    expect(sha256(`${w.t}/holes-copy.raw`)).toBe(sha256(`${w.q}/holes-copy.raw`));
  });
});
