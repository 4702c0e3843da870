// Where qemu-io 7.2 puts metadata and data, matched byte for byte by
// tsemu-io on copies of one fresh image:
// - discard and write-zeroes make every L2 table their whole clusters touch
//   (allocated even when no entry changes); a partial cluster becomes a zero
//   cluster when the rest of it reads as zeroes and it holds no data; v2
//   without a backing file discards instead;
// - a write continues on the host right after its previous piece, one run
//   covers every cluster of a table that needs a new host cluster, a zero
//   cluster that owns its host cluster is written in place;
// - new refcount blocks (and a grown refcount table, 512-byte clusters past
//   8 MiB) land where QEMU puts them.
// Seeded random command streams print their seed.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { QEMU_IO, TSEMU_IO, run, sha256 } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'tsemu-io-layout-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `commands` through both tools on copies of a fresh image; both files must be the same and check clean. */
function compare(createOpts: string, size: string, commands: string[], viaStdin = false, prepare?: (base: string) => void): string {
  const base = join(dir, 'base.qcow2');
  rmSync(base, { force: true });
  expect(run('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', createOpts, base, size], dir).code).toBe(0);
  prepare?.(base);
  const q = join(dir, 'q.qcow2');
  const t = join(dir, 't.qcow2');
  copyFileSync(base, q);
  copyFileSync(base, t);
  const args = viaStdin ? ['-f', 'qcow2'] : commands.flatMap((c) => ['-c', c]);
  const input = viaStdin ? commands.join('\n') + '\n' : undefined;
  const qr = run(QEMU_IO, [...args, q], dir, input);
  const tr = run(TSEMU_IO, [...args, t], dir, input);
  expect(tr.code).toBe(qr.code);
  expect(tr.stderr).toBe(qr.stderr);
  expect(statSync(t).size).toBe(statSync(q).size);
  expect(sha256(t)).toBe(sha256(q));
  const check = run('qemu-img', ['check', t], dir);
  expect(check.code, check.stdout + check.stderr).toBe(0);
  return t;
}

/** The refcount table's offset in the header (bytes 48..55). */
const refcountTableOffset = (path: string): number => Number(readFileSync(path).readBigUInt64BE(48));

const ZERO_AND_DISCARD: Array<[string, string[]]> = [
  ['cluster_size=65536', ['discard -q 0 64k']],
  ['cluster_size=65536', ['discard -q 0 32k']],
  ['cluster_size=65536', ['discard -q 1k 130k']],
  ['cluster_size=512', ['discard -q 0 4M']],
  ['cluster_size=512', ['write -q -z 0 4M']],
  ['cluster_size=512', ['write -q -z 100 300']],
  ['cluster_size=65536', ['write -q -z 100 1000']],
  ['cluster_size=65536', ['write -q -P 1 0 4k', 'write -q -z 100 1000', 'write -q -z 8k 1000']],
  ['cluster_size=65536', ['write -q -P 1 0 4k', 'write -q -z 60k 10k']],
  ['cluster_size=65536', ['write -q -z -u 60k 10k']],
  ['cluster_size=65536', ['write -q -z 4000000 194304']],
  ['cluster_size=65536,compat=0.10', ['write -q -z 0 64k', 'discard -q 64k 64k']],
  ['cluster_size=65536,compat=0.10', ['write -q -P 1 0 1M', 'write -q -z -u 4k 200k', 'write -q -z 1000k 3k']],
  ['cluster_size=65536', ['write -q -P 1 0 256k', 'write -q -z 0 128k', 'write -q -P 2 4k 4k']],
  ['cluster_size=4096', ['write -q -P 1 0 64k', 'write -q -z 8k 8k', 'write -q -P 2 0 64k']],
];

describe('qcow2 layout: discard and write-zeroes as qemu-io', () => {
  it.each(ZERO_AND_DISCARD)('%s: %j', (opts, commands) => {
    compare(opts, '4M', commands);
  });
});

/** Runs a tool and insists it succeeded (fixture preparation). */
function must(bin: string, args: string[]): void {
  const r = run(bin, args, dir);
  expect(r.code, r.stderr).toBe(0);
}

describe('qcow2 layout: snapshots and backing files as qemu-io', () => {
  // Data, compressed clusters and a snapshot: L2 tables are shared, so discard
  // and write-zeroes copy them even where nothing changes.
  const withSnapshot = (base: string): void => {
    must(QEMU_IO, ['-c', 'write -q -P 1 0 1M', '-c', 'write -q -c -P 3 2M 256k', base]);
    must('qemu-img', ['snapshot', '-c', 's1', base]);
  };
  it.each<[string, string[]]>([
    ['cluster_size=65536', ['discard -q 0 64k']],
    ['cluster_size=4096', ['discard -q 0 64k', 'write -q -P 5 8k 100k']],
    ['cluster_size=4096', ['write -q -z 4k 64k', 'write -q -P 5 2M 300k']],
    ['cluster_size=512', ['write -q -P 7 1000 70000', 'write -q -z -u 2M 100k', 'write -q -P 8 2050k 4k']],
  ])('snapshot, %s: %j', (opts, commands) => {
    compare(opts, '4M', commands, false, withSnapshot);
  });

  // A partial write-zeroes asks the backing file whether the rest of the cluster reads as zeroes.
  it.each([['write -q -z 1M 1000'], ['write -q -z 100 1000'], ['write -q -z 130k 1000'], ['write -q -z 62k 4k']])(
    'qcow2 backing file: %s', (command) => {
      const backing = join(dir, 'backing.qcow2');
      rmSync(backing, { force: true });
      must('qemu-img', ['create', '-q', '-f', 'qcow2', backing, '4M']);
      must(QEMU_IO, ['-c', 'write -q -P 1 0 64k', '-c', 'write -q -z 128k 64k', backing]);
      compare(`cluster_size=4096,backing_file=${backing},backing_fmt=qcow2`, '4M', [command]);
    },
  );
});

/** A seeded stream of writes, write-zeroes (with and without unmap) and discards. */
function randomCommands(seed: number, count: number, size: number): string[] {
  let s = seed >>> 0;
  const next = (n: number): number => {
    // xorshift32: deterministic from the printed seed.
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const len = [512, 4096, 1 + next(65535)][next(3)]!;
    const off = next(size - len);
    const k = next(20);
    if (k < 15) out.push(`write -q -P ${1 + next(254)} ${off} ${len}`);
    else if (k < 17) out.push(`write -q -z ${k === 16 ? '-u ' : ''}${off} ${len}`);
    else out.push(`discard -q ${off} ${len}`);
  }
  return out;
}

describe('qcow2 layout: random allocating writes as qemu-io', () => {
  // 512-byte clusters: a refcount block covers 128 KiB and the first table 8 MiB,
  // so these streams make many blocks and (the long one) grow the table.
  it.each([
    [101, 300, 'cluster_size=512'],
    [102, 300, 'cluster_size=1024'],
    [103, 1200, 'cluster_size=512'],
    [104, 300, 'cluster_size=4096'],
  ])('seed %i: %i commands, %s', (seed, count, opts) => {
    console.log(`qcow2-layout random stream: seed=${seed} count=${count} ${opts}`);
    const t = compare(opts, '64M', randomCommands(seed, count, 64 << 20), true);
    // The long stream outgrows the first table (one cluster after the header).
    if (count > 1000) expect(refcountTableOffset(t)).toBeGreaterThan(8 << 20);
  });
});
