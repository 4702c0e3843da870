// convert's copy loop runs chunks that need no request (zero runs on a
// target that reads as zeroes) synchronously, in a loop per worker: a long
// hole must neither recurse per chunk nor stall, and data after it must still
// land where it belongs, in order.
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { main } from '../src/index.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const dir = mkdtempSync(join(tmpdir(), 'qemu-img-long-runs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  return { code, stdout, stderr };
}

/** A sparse raw file of `size` bytes with `marks` (offset -> byte) written as 4 KiB blocks. */
function sparseSource(name: string, size: number, marks: Array<[number, number]>): string {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  for (const [offset, byte] of marks) writeSync(fd, new Uint8Array(4096).fill(byte), 0, 4096, offset);
  closeSync(fd);
  truncateSync(path, size);
  return path;
}

it('copies data around a 96 GiB hole (48k chunks that write nothing) to raw and qcow2', async () => {
  const size = 96 * GiB + 4 * MiB;
  const marks: Array<[number, number]> = [[0, 0x11], [3 * MiB, 0x22], [96 * GiB, 0x33], [96 * GiB + 4 * MiB - 4096, 0x44]];
  const src = sparseSource('long-src.raw', size, marks);
  for (const fmt of ['raw', 'qcow2']) {
    const dst = join(dir, `long-dst.${fmt}`);
    expect(await run(['convert', '-f', 'raw', '-O', fmt, src, dst])).toEqual({ code: 0, stdout: '', stderr: '' });
    // Read back through the tool: every mark where it was written, zeroes next to it.
    const back = join(dir, `back-${fmt}.raw`);
    expect((await run(['convert', '-f', fmt, '-O', 'raw', dst, back])).code).toBe(0);
    const fd = openSync(back, 'r');
    try {
      for (const [offset, byte] of marks) {
        const buf = Buffer.alloc(8192);
        readSync(fd, buf, 0, buf.length, offset);
        expect([offset, buf.subarray(0, 4096).equals(Buffer.alloc(4096, byte))]).toEqual([offset, true]);
        if (offset + 8192 <= size) expect([offset, buf.subarray(4096).equals(Buffer.alloc(4096))]).toEqual([offset, true]);
      }
    } finally {
      closeSync(fd);
    }
    rmSync(back);
  }
});

it('prints the same -p steps for a long hole with -m 1 and -m 16', async () => {
  const src = sparseSource('steps.raw', 8 * GiB, [[0, 1], [5 * GiB, 2], [8 * GiB - 4096, 3]]);
  const one = await run(['convert', '-p', '-m', '1', '-f', 'raw', '-O', 'qcow2', src, join(dir, 'steps1.qcow2')]);
  const many = await run(['convert', '-p', '-m', '16', '-f', 'raw', '-O', 'qcow2', src, join(dir, 'steps16.qcow2')]);
  expect(one.code).toBe(0);
  expect(many).toEqual(one);
  expect(one.stdout.endsWith('    (100.00/100%)\r\n')).toBe(true);
  expect(readFileSync(join(dir, 'steps1.qcow2')).equals(readFileSync(join(dir, 'steps16.qcow2')))).toBe(true);
});
