// convert with sources that fail (nbdkit's eval plugin: reads of chosen
// ranges, or every block-status query, end in EIO), side by side with
// qemu-img 7.2: without --salvage the one error line and status 1; with it a
// warning per failing 512-byte sector (source-relative offsets), zeroes in
// their place and status 0; -q keeps the warnings back. Block-status failures
// are warned about twice, as qemu-img does (its counting pass and its copy);
// with several workers the warnings of different chunks interleave as
// scheduling has it, so those cases compare the lines as a multiset.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, TSEMU_IMG } from './harness.js';

let dir: string;
const servers: ChildProcess[] = [];

// EIO for [16 KiB, 20 KiB) and [40 KiB, 40.5 KiB); 'A' everywhere else. Small
// exports: nbdkit's eval plugin runs a shell per request, and salvage reads sector by sector.
const PREAD = `c=$3; o=$4; e=$((o+c))
if { [ $o -lt 20480 ] && [ $e -gt 16384 ]; } || { [ $o -lt 41472 ] && [ $e -gt 40960 ]; }; then echo EIO >&2; exit 1; fi
dd if=${'$'}{0%/*}/a.raw bs=$c count=1 status=none
`;

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** An nbdkit export of `size` bytes on a unix socket; `badExtents`: every block-status query fails. */
function nbdkit(name: string, size: number, badExtents: boolean): string {
  const sock = join(dir, `${name}.sock`);
  const args = ['-f', '--exit-with-parent', '-U', sock, 'eval', `get_size=echo ${size}`, `pread=sh ${join(dir, 'pread.sh')} "$@"`, 'can_write=exit 3'];
  if (badExtents) args.push('can_extents=exit 0', 'extents=echo EIO >&2; exit 1');
  const child = spawn('nbdkit', args, { stdio: 'ignore' });
  servers.push(child);
  const uri = `nbd+unix:///?socket=${sock}`;
  for (let i = 0; i < 500; i++) {
    if (existsSync(sock) && spawnSync('nbdinfo', ['--size', uri]).status === 0) return uri;
    if (child.exitCode !== null) break;
    sleepMs(20);
  }
  throw new Error(`nbdkit for ${name} did not start`);
}

let reads: string;
let statuses: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsemu-img-salvage-'));
  writeFileSync(join(dir, 'pread.sh'), PREAD);
  writeFileSync(join(dir, 'a.raw'), Buffer.alloc(65536, 0x41));
  writeFileSync(join(dir, 'head.raw'), Buffer.alloc(393216, 0x42));
  reads = nbdkit('reads', 65536, false);
  statuses = nbdkit('statuses', 8192, true);
});

afterAll(() => {
  for (const s of servers) s.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Both tools write their own output; stderr, stdout, status, and whether the outputs read the same. */
function both(args: string[], format = 'raw'): { qemu: string[]; tsemu: string[]; sameContent: boolean } {
  const q = run('qemu-img', ['convert', '-O', format, ...args, 'q.out'], dir);
  const t = run(TSEMU_IMG, ['convert', '-O', format, ...args, 't.out'], dir);
  const sameContent = q.code !== 0 || run('qemu-img', ['compare', '-q', '-f', format, '-F', format, 'q.out', 't.out'], dir).code === 0;
  rmSync(join(dir, 'q.out'), { force: true });
  rmSync(join(dir, 't.out'), { force: true });
  return { qemu: [q.stderr, q.stdout, String(q.code)], tsemu: [t.stderr, t.stdout, String(t.code)], sameContent };
}

const sortedLines = (text: string): string[] => text.split('\n').sort();

describe('convert --salvage', () => {
  it('failing reads: one warning per failing sector, zeroes there, status 0', () => {
    const r = both(['--salvage', reads]);
    expect(r.tsemu).toEqual(r.qemu);
    expect(r.tsemu[0]).toMatch(/^qemu-img: warning: error while reading offset 16384: Input\/output error\n/);
    expect(r.tsemu[0].split('\n').length - 1).toBe(9);
    expect(r.tsemu[2]).toBe('0');
    expect(r.sameContent).toBe(true);
  });

  it.each([
    ['-q: no warnings', ['-q', '--salvage']],
    ['a second source: offsets within that source', ['--salvage', '-f', 'raw', 'head.raw']],
    ['one worker (-m 1)', ['--salvage', '-m', '1']],
    ['out of order (-W)', ['--salvage', '-W']],
  ])('%s', (_name, args) => {
    const r = both([...args, reads]);
    expect(r.tsemu).toEqual(r.qemu);
    expect(r.tsemu[2]).toBe('0');
    expect(r.sameContent).toBe(true);
  });

  it('into qcow2', () => {
    const r = both(['--salvage', reads], 'qcow2');
    expect(r.tsemu).toEqual(r.qemu);
    expect(r.sameContent).toBe(true);
  });

  it('without --salvage: the failed read ends the copy', () => {
    const r = both([reads]);
    expect(r.tsemu).toEqual(r.qemu);
    expect(r.tsemu[0]).toBe('qemu-img: error while reading at byte 0: Input/output error\n');
    expect(r.tsemu[2]).toBe('1');
  });

  it('block status fails, without --salvage: qemu-img\'s line, status 1', () => {
    for (const extra of [[], ['-f', 'raw', 'head.raw']]) {
      const r = both([...extra, statuses]);
      expect(r.tsemu).toEqual(r.qemu);
      expect(r.tsemu[0]).toBe('qemu-img: error while reading block status at offset 0: Input/output error\n');
    }
  });

  it('block status fails, --salvage -m 1: every sector warned twice, read as data, byte-identical output', () => {
    const r = both(['--salvage', '-m', '1', statuses]);
    expect(r.tsemu).toEqual(r.qemu);
    expect(r.tsemu[0].split('\n').filter((l) => l.includes('block status at offset 512:'))).toHaveLength(2);
    expect(r.tsemu[2]).toBe('0');
    expect(r.sameContent).toBe(true);
  });

  it('block status fails, --salvage -c: a whole cluster taken as data per failed query, warned per cluster', () => {
    const r = both(['-c', '-o', 'cluster_size=4096', '--salvage', '-m', '1', statuses], 'qcow2');
    expect(r.tsemu).toEqual(r.qemu);
    expect(r.tsemu[0].split('\n').filter((l) => l.includes('block status'))).toHaveLength(4);
    expect(r.sameContent).toBe(true);
  });

  it('block status fails, --salvage with 8 workers: the same lines (order aside)', () => {
    const r = both(['--salvage', statuses]);
    expect(sortedLines(r.tsemu[0])).toEqual(sortedLines(r.qemu[0]));
    expect(r.tsemu.slice(1)).toEqual(r.qemu.slice(1));
    expect(r.sameContent).toBe(true);
  });
});
