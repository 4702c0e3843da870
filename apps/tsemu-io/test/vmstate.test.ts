// qcow2 VM state (`write -b` / `read -b`): the same command lists on copies
// of one fresh image give qemu-io 7.2's output and leave byte-identical
// files (same size, same holes and data: QEMU writes a partial new VM
// state cluster whole, with real zeroes), which `qemu-img check` and `info`
// read the same. The VM state lives past the disk, so writes there grow the
// L1 table as QEMU does (x1.5 steps) and reuse the old table's cluster.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { QEMU_IO, TSEMU_IO, maskTimings, qemuMap, run, sha256 } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'tsemu-io-vmstate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Case {
  name: string;
  create: string[];
  commands: string[];
  /** Extra qemu-io options before the commands. */
  opts?: string[];
}

const CASES: Case[] = [
  {
    name: 'whole and partial clusters, pattern reads, unwritten state reads as zeroes',
    create: ['-f', 'qcow2'], opts: [],
    commands: [
      'write -b -P 0x11 0 64k', 'read -b -P 0x11 0 64k', 'write -b -P 0x22 1m 512', 'read -b -v 1m 512',
      'read -b -P 0 2m 64k', 'write -b -P 0x33 4k 8k', 'write -b -P 0x44 60k 8k', 'read -b -P 0x44 60k 8k',
      'write -b -P 0x55 600m 128k', 'read -b -P 0x55 600m 128k', 'read -b -P 0 1g 512',
    ],
  },
  {
    name: 'a 10 GiB image (L1 of 20 entries grows to 30) and -C / -q reports',
    create: ['-f', 'qcow2'],
    commands: ['write -b -q -P 1 0 64k', 'write -b -C -P 2 5G 64k', 'read -b -C -P 2 5G 64k', 'read -b -q -P 1 0 64k', 'info'],
  },
  {
    name: '512-byte clusters: several L2 tables and a multi-cluster L1',
    create: ['-f', 'qcow2', '-o', 'cluster_size=512'],
    commands: ['write -b -P 0x11 0 64k', 'write -b -P 0x13 300k 512', 'write -b -P 0x14 3m 4k', 'read -b -v 3m 512', 'read -b -P 0x11 0 64k'],
  },
  {
    name: 'compat=0.10, disk data next to the VM state, writeback cache',
    create: ['-f', 'qcow2', '-o', 'compat=0.10'], opts: ['-t', 'writeback'],
    commands: ['write -P 1 0 1M', 'write -b -P 0x11 4k 8k', 'read -P 1 0 1M', 'read -b -P 0x11 4k 8k', 'write -b -P 0x12 6k 1k'],
  },
  {
    name: 'flag checks: -z, -f, alignment, -b wins over -c, -s',
    create: ['-f', 'qcow2'],
    commands: [
      'write -b -z 0 512', 'write -b -f 0 512', 'write -b 1 512', 'write -b 0 511', 'read -b 1 512', 'read -b 0 100',
      'write -b -c -P 7 0 512', 'read -b -P 7 0 512', 'write -b -s /etc/hostname 0 512',
    ],
  },
  {
    name: 'raw: Operation not supported',
    create: ['-f', 'raw'], opts: ['-f', 'raw'],
    commands: ['write -b 0 512', 'read -b 0 512'],
  },
  {
    name: 'read-only: refused before the command runs, reads still work',
    create: ['-f', 'qcow2'], opts: ['-r'],
    commands: ['write -b 0 512', 'read -b -P 0 0 512'],
  },
];

describe('VM state (read -b / write -b) as qemu-io 7.2', () => {
  it.each(CASES.map((c) => [c.name, c]))('%s', (_name, c) => {
    const base = join(dir, 'base.img');
    rmSync(base, { force: true });
    const size = c.name.startsWith('a 10 GiB') ? '10G' : '64M';
    expect(run('qemu-img', ['create', '-q', ...c.create, base, size], dir).code).toBe(0);
    const q = join(dir, 'q.img');
    const t = join(dir, 't.img');
    copyFileSync(base, q);
    copyFileSync(base, t);
    const args = [...(c.opts ?? []), ...c.commands.flatMap((cmd) => ['-c', cmd])];
    const qr = run(QEMU_IO, [...args, q], dir);
    const tr = run(TSEMU_IO, [...args, t], dir);
    expect(tr.code).toBe(qr.code);
    expect(tr.stderr.replaceAll(t, 'IMG')).toBe(qr.stderr.replaceAll(q, 'IMG'));
    expect(maskTimings(tr.stdout)).toBe(maskTimings(qr.stdout));
    expect(statSync(t).size).toBe(statSync(q).size);
    // Holes and data where qemu-io leaves them (st_blocks would also count the
    // file system's extent blocks, which vary with other files written meanwhile).
    expect(qemuMap(t)).toBe(qemuMap(q));
    expect(sha256(t)).toBe(sha256(q));
    if (c.create[1] === 'qcow2') {
      for (const cmd of [['check', '-f', 'qcow2'], ['info', '-f', 'qcow2']]) {
        const qc = run('qemu-img', [...cmd, q], dir);
        const tc = run('qemu-img', [...cmd, t], dir);
        expect(tc.code).toBe(qc.code);
        expect(tc.stdout.replaceAll(t, 'IMG')).toBe(qc.stdout.replaceAll(q, 'IMG'));
      }
    }
  });

  it('writes past the disk leave the disk and its size alone', () => {
    const img = join(dir, 'own.qcow2');
    rmSync(img, { force: true });
    expect(run('qemu-img', ['create', '-q', '-f', 'qcow2', img, '1M'], dir).code).toBe(0);
    const r = run(TSEMU_IO, ['-c', 'write -b -P 0xaa 0 64k', '-c', 'read -P 0 0 1M', '-c', 'length', img], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1 MiB\n');
    // The VM state starts at the first L1 entry the disk does not use: 512 MiB for 64 KiB clusters.
    const l1Size = readFileSync(img).readUInt32BE(36);
    expect(l1Size).toBe(2);
    const back = run(TSEMU_IO, ['-c', 'read -b -P 0xaa 0 64k', img], dir);
    expect(back.code).toBe(0);
    expect(back.stdout).not.toContain('Pattern verification failed');
  });
});
