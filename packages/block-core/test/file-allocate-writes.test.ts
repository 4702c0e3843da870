// Large buffered writes allocate their range first on ext4 (FileDriverState.allocateWrites):
// which writes take the path, that the file ends up with exactly the data and
// holes (and size) a plain write leaves, and where it stays off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statfsSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileDriverState, openImage, type BlockBackend, type OpenSpec } from '@tsemu/block-core';
import { hostIo } from '@tsemu/host-io';
import { ALLOCATE_WRITE_MIN_BYTES } from '../src/drivers/file.js'; // not part of the package's API

const MiB = 1 << 20;
let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'bc-allocw-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const onExt4 = (path: string): boolean => statfsSync(path).type === 0xef53;

function fileState(blk: BlockBackend): FileDriverState {
  const state = blk.root.file!.state;
  expect(state).toBeInstanceOf(FileDriverState);
  return state as FileDriverState;
}

/** A sparse raw file of `size` bytes in `where`, opened writeback unless `spec` says otherwise. */
async function sparse(where: string, name: string, size: number, spec: Partial<OpenSpec> = {}): Promise<{ path: string; blk: BlockBackend }> {
  const path = join(where, name);
  writeFileSync(path, '');
  truncateSync(path, size);
  return { path, blk: await openImage({ filename: path, format: 'raw', cache: 'writeback', ...spec }) };
}

/** [data start, data end) ranges of a file, from SEEK_DATA / SEEK_HOLE. */
function dataRanges(path: string): [number, number][] {
  const fd = openSync(path, 'r');
  try {
    const out: [number, number][] = [];
    for (let at = hostIo.seekData(fd, 0); at >= 0; ) {
      const end = hostIo.seekHole(fd, at);
      out.push([at, end]);
      at = hostIo.seekData(fd, end);
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

describe('allocating large buffered writes first', () => {
  const expected = hostIo.available && onExt4(tmpdir());

  it(`${expected ? 'allocates' : 'is off'} on ${onExt4(tmpdir()) ? 'ext4' : 'this file system'}: large writes only, and the file is as a plain write leaves it`, async () => {
    const { path, blk } = await sparse(dir, 'a.raw', 8 * MiB);
    const st = fileState(blk);
    expect(st.allocateWrites).toBe(expected);
    const big = new Uint8Array(MiB).fill(0x5a);
    await blk.write(4 * MiB, big);
    await blk.write(0, new Uint8Array(ALLOCATE_WRITE_MIN_BYTES - 4096).fill(1)); // below the threshold
    await blk.flush();
    const allocated = st.stats.allocatedWrites;
    await blk.close();
    expect(allocated).toBe(expected ? 1 : 0);
    expect(statSync(path).size).toBe(8 * MiB); // FALLOC_FL_KEEP_SIZE
    const want = new Uint8Array(8 * MiB);
    want.fill(1, 0, ALLOCATE_WRITE_MIN_BYTES - 4096);
    want.set(big, 4 * MiB);
    expect(new Uint8Array(readFileSync(path))).toEqual(want);
    if (hostIo.available) expect(dataRanges(path)).toEqual([[0, ALLOCATE_WRITE_MIN_BYTES - 4096], [4 * MiB, 5 * MiB]]);
  });

  it('a large write past the end grows the file to the write\'s end, not further', async () => {
    const { path, blk } = await sparse(dir, 'grow.raw', MiB);
    await blk.close();
    // The request layer keeps writes inside the image; a format driver that
    // grows its file (qcow2 allocating at the end) talks to the driver directly.
    const file = await openImage({ filename: path, format: 'file', cache: 'writeback' });
    const st = file.root.state as FileDriverState;
    await st.pwritev(3 * MiB, MiB / 2, [new Uint8Array(MiB / 2).fill(9)], {});
    expect(st.stats.allocatedWrites).toBe(expected ? 1 : 0);
    await file.close();
    expect(statSync(path).size).toBe(3.5 * MiB);
    if (hostIo.available) expect(dataRanges(path)).toEqual([[3 * MiB, 3.5 * MiB]]);
  });

  it('is off with x-no-fallocate=on and with O_DIRECT', async () => {
    const a = await sparse(dir, 'nofalloc.raw', 4 * MiB, { options: { 'file.x-no-fallocate': 'on' } });
    expect(fileState(a.blk).allocateWrites).toBe(false);
    await a.blk.write(0, new Uint8Array(MiB).fill(2));
    expect(fileState(a.blk).stats.allocatedWrites).toBe(0);
    await a.blk.close();
    expect(new Uint8Array(readFileSync(a.path)).subarray(0, MiB).every((b) => b === 2)).toBe(true);
    const b = await sparse(dir, 'direct.raw', 4 * MiB, { cache: 'none' });
    expect(fileState(b.blk).allocateWrites).toBe(false);
    await b.blk.close();
  });

  it('is off on tmpfs, where allocating first only adds work', async () => {
    if (!existsSync('/dev/shm') || statfsSync('/dev/shm').type !== 0x01021994) return; // no tmpfs here: nothing to check
    const shm = mkdtempSync('/dev/shm/bc-allocw-');
    try {
      const { blk } = await sparse(shm, 't.raw', 4 * MiB);
      expect(fileState(blk).allocateWrites).toBe(false);
      await blk.close();
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  });
});
