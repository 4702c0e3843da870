// tsemu-io on qcow2 images (the driver comes from @tsemu/block-drivers):
// written by one tool, pattern-verified by the other, and `qemu-img check` clean.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { QEMU_IO, TSEMU_IO, run } from './harness.js';

const c = (...cmds: string[]): string[] => cmds.flatMap((cmd) => ['-c', cmd]);
const WRITES = c('write -P 0x11 0 64k', 'write -P 0x22 100000 3000', 'write -c -P 0x33 8M 64k', 'write -z 4M 1M',
  'aio_write -P 0x44 1M 128k', 'aio_flush', 'discard 0 64k');
const CHECKS = c('read -P 0 0 64k', 'read -P 0x22 100000 3000', 'read -P 0x33 8M 64k', 'read -P 0 4M 1M', 'read -P 0x44 1M 128k');

describe('qcow2 through tsemu-io', () => {
  const root = mkdtempSync(join(tmpdir(), 'tsemu-io-qcow2-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const create = (name: string, opts: string): string => {
    const r = run('qemu-img', ['create', '-f', 'qcow2', '-o', opts, name, '16M'], root);
    expect(r.code).toBe(0);
    return name;
  };

  it.each(['cluster_size=65536', 'cluster_size=4096,compat=0.10', 'cluster_size=512'])('%s: both directions', (opts) => {
    const ours = create(`ours-${opts}.qcow2`, opts);
    const theirs = create(`theirs-${opts}.qcow2`, opts);
    const w = run(TSEMU_IO, ['-f', 'qcow2', ...WRITES, ours], root);
    expect(w.stderr).toBe('');
    expect(w.code).toBe(0);
    const check = run('qemu-img', ['check', ours], root);
    expect(check.stdout).toContain('No errors were found on the image.');
    expect(check.code).toBe(0);
    const r = run(QEMU_IO, ['-f', 'qcow2', ...CHECKS, ours], root);
    expect(r.stdout).not.toContain('verification failed');
    expect(r.code).toBe(0);

    expect(run(QEMU_IO, ['-f', 'qcow2', ...WRITES, theirs], root).code).toBe(0);
    const back = run(TSEMU_IO, ['-f', 'qcow2', ...CHECKS, theirs], root);
    expect(back.stdout).not.toContain('verification failed');
    expect(back.code).toBe(0);
    // Same allocation map through both tools.
    expect(run(TSEMU_IO, ['-f', 'qcow2', '-c', 'map', theirs], root).stdout).toBe(run(QEMU_IO, ['-f', 'qcow2', '-c', 'map', theirs], root).stdout);
  });

  it('a failed pattern check through tsemu-io exits 1 with qemu-io\'s line', () => {
    const img = create('bad.qcow2', 'cluster_size=65536');
    run(QEMU_IO, ['-f', 'qcow2', '-c', 'write -P 0xab 0 64k', img], root);
    const r = run(TSEMU_IO, ['-f', 'qcow2', '-c', 'read -P 0xcd 0 64k', img], root);
    expect(r.stdout.split('\n')[0]).toBe('Pattern verification failed at offset 0, 65536 bytes');
    expect(r.code).toBe(1);
  });
});
