// qemu-io -C / `open -C` (copy-on-read), side by side with qemu-io 7.2: the
// same output and exit status, and byte-identical images afterwards. Reads of
// clusters the top image does not allocate copy them in whole (zero clusters
// where they read as zeroes, on v3; written zeroes on compat 0.10), allocated
// ones are read in place, -s puts the copies in the temporary overlay, and a
// read-only open is refused.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskTimings, QEMU_IO, run, sha256, TSEMU_IO } from './harness.js';

let dir: string;

const img = (args: string[]): void => {
  expect(run('qemu-img', args, dir).code).toBe(0);
};
const io = (args: string[]): void => {
  expect(run(QEMU_IO, args, dir).code).toBe(0);
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsemu-io-cor-'));
  // base.qcow2: data at 0 (1 MiB), written zeroes at 1 MiB, data at 2 MiB, the rest unallocated.
  img(['create', '-q', '-f', 'qcow2', 'base.qcow2', '4M']);
  io(['-c', 'write -P 1 0 1M', '-c', 'write -z 1M 512k', '-c', 'write -P 2 2M 64k', '-c', 'write -c -P 3 3M 64k', 'base.qcow2']);
  img(['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2']);
  img(['create', '-q', '-f', 'qcow2', '-o', 'compat=0.10', '-b', 'base.qcow2', '-F', 'qcow2', 'v2.qcow2']);
  img(['create', '-q', '-f', 'qcow2', '-b', 'top.qcow2', '-F', 'qcow2', 'chain.qcow2']);
  img(['create', '-q', '-f', 'qcow2', 'alone.qcow2', '1M']);
  // A 100 KiB backing file under a 200 KiB image: the copied cluster straddles the backing file's end.
  img(['create', '-q', '-f', 'qcow2', 'short.qcow2', '100k']);
  io(['-c', 'write -P 7 0 100k', 'short.qcow2']);
  img(['create', '-q', '-f', 'qcow2', '-b', 'short.qcow2', '-F', 'qcow2', 'over-short.qcow2', '200k']);
  img(['create', '-q', '-f', 'raw', 'base.raw', '8M']);
  io(['-f', 'raw', '-c', 'write -P 5 1M 3M', 'base.raw']);
  img(['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=512', '-b', 'base.raw', '-F', 'raw', 'small-clusters.qcow2']);
  img(['create', '-q', '-f', 'qcow2', 'big.qcow2', '64M']);
  io(['-c', 'write -P 3 0 40M', 'big.qcow2']);
  img(['create', '-q', '-f', 'qcow2', '-b', 'big.qcow2', '-F', 'qcow2', 'over-big.qcow2']);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Both tools on their own copy of `image` (backing files shared); output, status, resulting file and its map. */
function both(image: string, args: string[]): { qemu: string[]; tsemu: string[]; sameFile: boolean; map: string } {
  const q = `q-${image}`, t = `t-${image}`;
  copyFileSync(join(dir, image), join(dir, q));
  copyFileSync(join(dir, image), join(dir, t));
  const withImage = (name: string): string[] => args.map((a) => a.replaceAll('IMG', name));
  const rq = run(QEMU_IO, withImage(q), dir), rt = run(TSEMU_IO, withImage(t), dir);
  const norm = (r: { stdout: string; stderr: string; code: number | null }, name: string): string[] =>
    [maskTimings(r.stdout).replaceAll(name, 'IMG'), r.stderr.replaceAll(name, 'IMG'), String(r.code)];
  const map = (name: string): string => run('qemu-img', ['map', '--output=json', name], dir).stdout;
  const qMap = map(q);
  expect(map(t)).toBe(qMap);
  return { qemu: norm(rq, q), tsemu: norm(rt, t), sameFile: sha256(join(dir, q)) === sha256(join(dir, t)), map: qMap };
}

describe('qemu-io -C (copy-on-read)', () => {
  it.each([
    ['data, written zeroes, data, compressed and unallocated backing clusters', 'top.qcow2',
      ['-C', '-c', 'read -P 1 4k 4k', '-c', 'read 1M 128k', '-c', 'read -P 2 2M 4k', '-c', 'read -P 3 3M 4k', '-c', 'read 3200k 4k', '-c', 'map', 'IMG']],
    ['compat=0.10: zeroes are written as data', 'v2.qcow2', ['-C', '-c', 'read 1M 4k', '-c', 'read 3200k 4k', '-c', 'read 0 2M', 'IMG']],
    ['a chain of two backing files', 'chain.qcow2', ['-C', '-c', 'read 0 3M', '-c', 'aio_read 3M 64k', '-c', 'aio_flush', '-c', 'map', 'IMG']],
    ['no backing file: unallocated clusters become zero clusters', 'alone.qcow2', ['-C', '-c', 'read 0 4k', '-c', 'read -P 0 200k 4k', 'IMG']],
    ['a backing file shorter than the image', 'over-short.qcow2', ['-C', '-c', 'read -P 0 150k 4k', '-c', 'read -P 7 90k 10k', 'IMG']],
    ['512-byte clusters over raw, readv', 'small-clusters.qcow2', ['-C', '-c', 'read 1000 3000', '-c', 'read -P 5 1M 100k', '-c', 'readv 3M 4k 4k', '-c', 'map', 'IMG']],
    ['one read over 16 MiB of unallocated clusters', 'over-big.qcow2', ['-C', '-c', 'read 1k 50M', '-c', 'map', 'IMG']],
    ['O_DIRECT (-n), reads not aligned to the host block', 'top.qcow2', ['-C', '-n', '-c', 'read 512 1k', '-c', 'read 70k 100', 'IMG']],
    ['a write in the middle first', 'top.qcow2', ['-C', '-c', 'write -P 9 60k 8k', '-c', 'read 0 192k', '-c', 'read -P 9 60k 8k', '-c', 'map', 'IMG']],
    ['open -C', 'top.qcow2', ['-c', 'open -C IMG', '-c', 'read -P 1 100k 4k', '-c', 'map']],
    ['-s: the copies go to the temporary overlay', 'top.qcow2', ['-s', '-C', '-c', 'read 0 4k', '-c', 'map', 'IMG']],
    ['raw: nothing to copy', 'base.raw', ['-C', '-f', 'raw', '-c', 'read -P 5 1M 4k', 'IMG']],
  ])('%s', (_name, image, args) => {
    const r = both(image, args);
    expect(r.tsemu).toEqual(r.qemu);
    expect(r.tsemu[2]).toBe('0');
    expect(r.sameFile).toBe(true);
  });

  it('copies land in the top image: its map changes as qemu-io\'s does', () => {
    const r = both('top.qcow2', ['-C', '-c', 'read 0 4k', '-c', 'read 1M 4k', '-c', 'read 3200k 4k', 'IMG']);
    expect(r.tsemu).toEqual(r.qemu);
    const map = JSON.parse(r.map) as { start: number; depth: number; zero: boolean; data: boolean }[];
    expect(map.find((e) => e.start === 0)).toMatchObject({ depth: 0, data: true });
    expect(map.find((e) => e.start === 1024 * 1024)).toMatchObject({ depth: 0, zero: true, data: false });
    expect(map.find((e) => e.start === 3200 * 1024)).toMatchObject({ depth: 0, zero: true, data: false });
  });

  it.each([
    ['-C -r', ['-C', '-r', '-c', 'read 0 4k', 'IMG']],
    ['open -C -r', ['-c', 'open -C -r IMG', '-c', 'read 0 4k']],
  ])('%s: "Can\'t use copy-on-read on read-only device", nothing written', (_name, args) => {
    const r = both('top.qcow2', args);
    expect(r.tsemu).toEqual(r.qemu);
    expect(r.tsemu[1]).toContain("can't open device IMG: Can't use copy-on-read on read-only device");
    expect(r.sameFile).toBe(true);
  });
});
