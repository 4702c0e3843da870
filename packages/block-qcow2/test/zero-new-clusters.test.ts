// Partial writes into new clusters: the run is zeroed with fallocate first
// (QEMU's layout). Where the file cannot (x-no-fallocate=on, as on tmpfs
// without FALLOC_FL_ZERO_RANGE), only the guest's bytes are written past the
// end of the file (the file driver refuses to grow it by ftruncate for this,
// which could cut off a concurrent write) and a reused cluster gets its
// copy-on-write buffer: either way, concurrent allocations all land.
import { statSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createImage, openImage } from '@tsemu/block-core';
import '@tsemu/block-qcow2';
import { expectCleanCheck, makeTempDir, qemuIo } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());
const CS = 65536;

async function writeConcurrently(f: string, options: Record<string, string>): Promise<void> {
  const blk = await openImage({ filename: f, format: 'qcow2', options });
  // 32 partial writes at once, each allocating its own cluster past the end of the file.
  await Promise.all(Array.from({ length: 32 }, (_, i) => blk.write(i * CS + 512, new Uint8Array(1000).fill(i + 1))));
  await blk.close();
}

describe('new clusters under partial writes', () => {
  it.each([
    ['with fallocate', {}],
    ['without fallocate', { 'file.x-no-fallocate': 'on' }],
  ])('%s: every concurrent write lands, the image checks clean', async (name, options) => {
    const f = tmp.path(`${name.replace(/ /g, '-')}.qcow2`);
    await createImage({ filename: f, format: 'qcow2', size: 64 << 20 });
    await writeConcurrently(f, options as Record<string, string>);
    expectCleanCheck(f);
    qemuIo(f, ...Array.from({ length: 32 }, (_, i) => `read -P ${i + 1} ${i * CS + 512} 1000`), 'read -P 0 0 512');
    // With fallocate the last data cluster is zeroed whole, so the file ends on a cluster boundary (as qemu-io's).
    if (name === 'with fallocate') expect(statSync(f).size % CS).toBe(0);
  });
});
