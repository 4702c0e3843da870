// Where discards and write-zeroes with unmap reach the host file, under each
// -d mode, for raw and qcow2, as in qemu-io 7.2: a child node defaults to
// discard=unmap whatever its parent says (so `write -z -u` on raw punches a
// hole even with -d off), a discard request on the top node obeys -d, and
// qcow2 passes a freed cluster's discard to the file only with discard=unmap
// (pass-discard-request). Same bytes and the same holes in the file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { QEMU_IO, TSEMU_IO, run, sha256 } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'tsemu-io-discard-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function makeImage(format: string, path: string): void {
  const create = format === 'raw' ? ['-o', 'preallocation=full'] : [];
  expect(run('qemu-img', ['create', '-q', '-f', format, ...create, path, '4M'], dir).code).toBe(0);
  expect(run('qemu-io', ['-f', format, '-c', 'write -q -P 1 0 1M', '-c', 'write -q -P 2 2M 1M', path], dir).code).toBe(0);
}

describe('discard modes', () => {
  it.each([
    ['raw', []], ['raw', ['-d', 'off']], ['raw', ['-d', 'unmap']],
    ['qcow2', []], ['qcow2', ['-d', 'off']], ['qcow2', ['-d', 'unmap']],
  ] as const)('%s %j', (format, opts) => {
    const q = join(dir, `q.${format}`);
    const t = join(dir, `t.${format}`);
    makeImage(format, q);
    makeImage(format, t);
    const args = ['-f', format, ...opts, '-c', 'write -z -u 0 1M', '-c', 'discard 2M 64k', '-c', 'write -z 3M 64k'];
    expect(run(QEMU_IO, [...args, q], dir).code).toBe(0);
    expect(run(TSEMU_IO, [...args, t], dir).code).toBe(0);
    // Which host ranges are holes (ext4's own extent blocks may differ with the order of the calls).
    const holes = (path: string): string => run('qemu-img', ['map', '--output=json', '-f', 'raw', path], dir).stdout;
    expect(holes(t)).toBe(holes(q));
    expect(sha256(t)).toBe(sha256(q));
  });
});
