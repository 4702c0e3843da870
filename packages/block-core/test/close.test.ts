// Closing a writable image flushes it first, as QEMU's bdrv_close does.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { FileDriverState, openImage, type BlockBackend } from '@tsemu/block-core';

const dir = mkdtempSync(join(tmpdir(), 'bc-close-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function syncsAtClose(cache: string, readOnly = false): Promise<number> {
  const path = join(dir, `${cache}-${readOnly}.raw`);
  writeFileSync(path, new Uint8Array(65536));
  const blk: BlockBackend = await openImage({ filename: path, format: 'raw', cache, readOnly });
  const file = blk.root.file!.state as FileDriverState;
  if (!readOnly) await blk.write(0, new Uint8Array(4096).fill(1));
  const before = file.stats.datasyncs;
  await blk.close();
  return file.stats.datasyncs - before;
}

it.each([
  ['writeback', false, 1],
  ['none', false, 1],
  ['unsafe', false, 0],
  ['writeback', true, 0],
])('cache=%s read-only=%s: %d fdatasync at close', async (cache, readOnly, syncs) => {
  expect(await syncsAtClose(cache as string, readOnly as boolean)).toBe(syncs);
});
