// Metadata preallocation detection counts referenced clusters against the
// file's real allocation; a file that is not sparse cannot hold more
// referenced clusters than it has, so it is answered without reading a
// refcount block (one 64 KiB read and a scan less at every first block status).
import { describe, expect, it } from 'vitest';
import type { BlockNode } from '@tsemu/block-core';
import type { Qcow2Image } from '../src/image.js';
import { detectMetadataPreallocation } from '../src/prealloc-detect.js';

const CS = 65536;
const PER_BLOCK = CS / 2; // 16-bit refcounts

/** An image whose first `referenced` clusters have refcount 1, over a file of `clusters` clusters with `allocated` of them on disk. */
function fixture(clusters: number, allocated: number, referenced: number) {
  let blockReads = 0;
  const img = {
    clusterSize: CS,
    header: { refcountOrder: 4 },
    refcounts: {
      entriesPerBlock: PER_BLOCK,
      async blockData(bi: number) {
        blockReads++;
        const data = new Uint8Array(CS);
        const dv = new DataView(data.buffer);
        for (let i = 0; i < PER_BLOCK; i++) if (bi * PER_BLOCK + i < referenced) dv.setUint16(i * 2, 1);
        return { data, dv };
      },
    },
  } as unknown as Qcow2Image;
  const file = {
    getLength: async () => clusters * CS,
    allocatedFileSize: async () => allocated * CS,
  } as unknown as BlockNode;
  return { img, file, reads: () => blockReads };
}

describe('detectMetadataPreallocation', () => {
  it('answers a fully allocated file without reading refcounts', async () => {
    const f = fixture(8198, 8198, 8198);
    expect(await detectMetadataPreallocation(f.img, f.file)).toBe(false);
    expect(f.reads()).toBe(0);
  });

  it('finds a metadata-preallocated image (many referenced clusters, few on disk)', async () => {
    const f = fixture(100_000, 20, 100_000);
    expect(await detectMetadataPreallocation(f.img, f.file)).toBe(true);
    expect(f.reads()).toBeGreaterThan(0);
  });

  it('reads the refcounts of a sparse file and finds it plain when few clusters are referenced', async () => {
    const f = fixture(100_000, 20, 21);
    expect(await detectMetadataPreallocation(f.img, f.file)).toBe(false);
    expect(f.reads()).toBe(Math.ceil(100_000 / PER_BLOCK));
  });
});
