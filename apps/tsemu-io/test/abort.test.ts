// `abort` simulates a crash as qemu-io's abort(3) does: the process dies of
// SIGABRT with nothing on stderr (no stack trace of the runtime). One
// difference: tsemu-io writes out the output so far first, where qemu-io
// loses what stdio still held (all of it here: stdout is a pipe).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { QEMU_IO, TSEMU_IO } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'tsemu-io-abort-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('abort', () => {
  it('dies of SIGABRT after the output so far, like qemu-io', () => {
    expect(spawnSync('qemu-img', ['create', '-q', '-f', 'raw', join(dir, 'a.raw'), '1M']).status).toBe(0);
    const args = ['-f', 'raw', '-c', 'write -q -P 1 0 4k', '-c', 'read -v 0 16', '-c', 'abort', '-c', 'read 0 1', join(dir, 'a.raw')];
    const q = spawnSync(QEMU_IO, args, { encoding: 'utf8' });
    const t = spawnSync(TSEMU_IO, args, { encoding: 'utf8' });
    expect(q.signal).toBe('SIGABRT');
    expect(t.signal).toBe('SIGABRT');
    expect(t.stderr).toBe(q.stderr);
    expect(t.stderr).toBe('');
    expect(t.stdout.startsWith(q.stdout)).toBe(true);
    expect(t.stdout).toContain('00000000:  01 01 01 01');
    expect(t.stdout).not.toContain('read 1/1 bytes'); // nothing after abort ran
  });
});
