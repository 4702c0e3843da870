// With the source's file option x-mmap=on, convert copies data that block
// status places in a host file from a page-cache view
// (FileDriverState.mapForRead) instead of reading it: the target's bytes, its
// allocation (qemu-img map) and the -p lines must be the same as on the read
// path (the default), for raw and qcow2 sources and targets, with -S
// detection at chunk edges and unaligned zero runs.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileDriverState } from '@tsemu/block-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/index.js';

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'qemu-img-mapped-'));
const raw = join(dir, 'src.raw');
const qcow2 = join(dir, 'src.qcow2');

beforeAll(() => {
  // 9 MiB + 1536: data, zero runs of several sizes (some not 4 KiB aligned), a hole, a partial last sector.
  const data = new Uint8Array(9 * MiB + 1536);
  for (let i = 0; i < data.length; i += 512) data[i] = ((i >> 9) % 251) + 1;
  data.fill(0, 1 * MiB + 1000, 2 * MiB + 70000); // zeroes across the first 2 MiB chunk edge
  data.fill(0, 3 * MiB, 3 * MiB + 4096); // one aligned block
  data.fill(0, 5 * MiB + 512, 5 * MiB + 8192 + 512); // 8 KiB unaligned: one whole block inside
  data.fill(0, 8 * MiB, 9 * MiB);
  // A real hole at 6-7 MiB: only the rest is written.
  const fd = openSync(raw, 'w');
  writeSync(fd, data, 0, 6 * MiB, 0);
  writeSync(fd, data, 7 * MiB, data.length - 7 * MiB, 7 * MiB);
  closeSync(fd);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
  // Cached pages: views are only handed out for data in the page cache.
  readFileSync(raw);
  readFileSync(qcow2);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function convert(src: string, fmt: string, outFmt: string, name: string, mmap: boolean): Promise<{ stdout: string; views: number }> {
  const out = join(dir, name);
  rmSync(out, { force: true });
  const spy = vi.spyOn(FileDriverState.prototype, 'mapForRead');
  let stdout = '';
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stdout += s) } };
  const source = mmap ? ['--image-opts', `driver=${fmt},file.driver=file,file.filename=${src},file.x-mmap=on`] : ['-f', fmt, src];
  const args = ['convert', '-p', '-O', outFmt, ...source, out];
  try {
    expect(await main(args, io)).toBe(0);
    const views = spy.mock.results.filter((r) => r.type === 'return' && r.value !== undefined).length;
    return { stdout, views };
  } finally {
    spy.mockRestore();
  }
}

const map = (path: string): string => execFileSync('qemu-img', ['map', '--output=json', path], { encoding: 'utf8' });

describe('convert from page-cache views', () => {
  for (const [src, fmt] of [[raw, 'raw'], [qcow2, 'qcow2']] as const) {
    for (const outFmt of ['raw', 'qcow2']) {
      it(`${fmt} -> ${outFmt}: same bytes, allocation and progress as the read path`, async () => {
        const mapped = await convert(src, fmt, outFmt, `m.${outFmt}`, true);
        const read = await convert(src, fmt, outFmt, `r.${outFmt}`, false);
        expect(mapped.views).toBeGreaterThan(0);
        expect(read.views).toBe(0);
        expect(mapped.stdout).toBe(read.stdout);
        expect(map(join(dir, `m.${outFmt}`))).toBe(map(join(dir, `r.${outFmt}`)));
        execFileSync('qemu-img', ['compare', '-q', '-f', fmt, '-F', outFmt, src, join(dir, `m.${outFmt}`)]);
        // And what qemu-img itself makes of the same source.
        const q = join(dir, `q.${outFmt}`);
        rmSync(q, { force: true });
        execFileSync('qemu-img', ['convert', '-f', fmt, '-O', outFmt, src, q]);
        expect(map(join(dir, `m.${outFmt}`))).toBe(map(q));
      });
    }
  }

  it('reads through a filter above the format (blkdebug read errors still happen)', async () => {
    const spy = vi.spyOn(FileDriverState.prototype, 'mapForRead');
    let err = '';
    const io = { stdout: { write: () => true }, stderr: { write: (t: string) => (err += t) } };
    try {
      const opts = `driver=blkdebug,image.driver=raw,image.file.driver=file,image.file.filename=${raw},image.file.x-mmap=on,inject.read=2`;
      expect(await main(['convert', '--image-opts', opts, '-O', 'raw', join(dir, 'f.raw')], io)).toBe(1);
      expect(err).toMatch(/error while reading at byte \d+: Input\/output error/);
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });
});
