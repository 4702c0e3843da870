// convert's failure paths, through a test-only format driver whose reads
// (or writes) fail past a given offset.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockError } from '@tsemu/block-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerPassThrough } from './pass-through-format.js';
import { runMain } from './run-main.js';

const FAIL_FROM = 4 * 1024 * 1024;

/** Reads or writes that end past FAIL_FROM fail. */
function registerFailing(name: string, failReads: boolean): void {
  registerPassThrough(name, {
    async read(offset, length, pass) {
      if (failReads && offset + length > FAIL_FROM) throw new BlockError('EIO');
      await pass();
    },
    async write(offset, length, _flags, pass) {
      if (!failReads && offset + length > FAIL_FROM) throw new BlockError('ENOSPC');
      await pass();
    },
  });
}

const dir = mkdtempSync(join(tmpdir(), 'qemu-img-convert-'));
const src = join(dir, 'src.raw');
const dst = join(dir, 'dst.raw');

beforeAll(() => {
  registerFailing('test-failread', true);
  registerFailing('test-failwrite', false);
  writeFileSync(src, new Uint8Array(8 * 1024 * 1024).fill(0x33));
  writeFileSync(dst, new Uint8Array(8 * 1024 * 1024));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('convert failures', () => {
  it('reports a read error with the byte offset of the failed request, exit 1', async () => {
    const r = await runMain(['convert', '-m', '1', '-f', 'test-failread', '-O', 'raw', src, join(dir, 'out.raw')]);
    expect(r).toEqual({ stdout: '', stderr: 'qemu-img: error while reading at byte 4194304: Input/output error\n', code: 1 });
  });

  it('reports every failed request in flight and no stack trace', async () => {
    const r = await runMain(['convert', '-m', '8', '-f', 'test-failread', '-O', 'raw', src, join(dir, 'out2.raw')]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(1);
    for (const line of lines) expect(line).toMatch(/^qemu-img: error while reading at byte (4194304|6291456): Input\/output error$/);
  });

  it('reports a write error, exit 1', async () => {
    const r = await runMain(['convert', '-n', '-m', '2', '-f', 'raw', '-O', 'test-failwrite', src, dst]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('qemu-img: error while writing at byte 4194304: No space left on device\n');
  });
});
