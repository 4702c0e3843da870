// FileDriverState.mapForRead: page-cache views only with x-mmap=on and only
// for single-client tools (never for servers or cache.direct), the bytes the
// file holds at any offset, nothing past EOF, and unmapView detaches the view.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileDriverState, openImage, type BlockBackend, type OpenSpec } from '@tsemu/block-core';

let dir: string;
const SIZE = 1 << 20;
const content = new Uint8Array(SIZE);
for (let i = 0; i < SIZE; i++) content[i] = (i * 31 + (i >> 12)) & 0xff;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bc-mapread-'));
  writeFileSync(join(dir, 'disk.raw'), content);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fileState(blk: BlockBackend): FileDriverState {
  const state = blk.root.file!.state;
  expect(state).toBeInstanceOf(FileDriverState);
  return state as FileDriverState;
}

const open = (spec: Partial<OpenSpec>): Promise<BlockBackend> =>
  openImage({ filename: join(dir, 'disk.raw'), format: 'raw', readOnly: true, ...spec });

describe('mapForRead', () => {
  it('is off by default, for servers and with cache.direct', async () => {
    const on = { 'file.x-mmap': 'on' };
    for (const spec of [{ singleClient: true }, { options: on }, { singleClient: true, cache: 'none', options: on }]) {
      const blk = await open(spec as Partial<OpenSpec>);
      const st = fileState(blk);
      expect(st.mapReads).toBe(false);
      expect(st.mapForRead(0, 4096)).toBeUndefined();
      await blk.close();
    }
  });

  it('single-client tools get views of the file bytes, at unaligned offsets too, and none past EOF', async () => {
    const blk = await open({ singleClient: true, options: { 'file.x-mmap': 'on' } });
    const st = fileState(blk);
    expect(st.mapReads).toBe(true);
    await blk.read(0, new Uint8Array(SIZE)); // cached: views are only given for cached pages
    for (const [off, len] of [[0, SIZE], [4096, 8192], [1000, 70000], [SIZE - 5, 5]] as const) {
      const view = st.mapForRead(off, len)!;
      expect(view).toBeDefined();
      expect(view.length).toBe(len);
      expect(Buffer.compare(view, content.subarray(off, off + len))).toBe(0);
      st.unmapView(view);
      expect(view.length).toBe(0);
    }
    expect(st.mapForRead(SIZE - 4096, 4097)).toBeUndefined();
    expect(st.mapReads).toBe(true); // a refused range does not turn mapping off
    expect(st.stats.mappedReads).toBe(4);
    await blk.close();
  });
});
