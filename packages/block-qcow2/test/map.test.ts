// blockStatus against `qemu-img map --output=json` on single images: the
// same extents with the same present / zero / data / offset.
import { afterAll, describe, expect, it } from 'vitest';
import { openImage } from '@tsemu/block-core';
import '@tsemu/block-qcow2';
import { makeTempDir, qemuImg, qemuIo } from './helpers/tools.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

interface MapEntry { start: number; length: number; present: boolean; zero: boolean; data: boolean; offset?: number }

async function ourMap(file: string): Promise<MapEntry[]> {
  const blk = await openImage({ filename: file, format: 'qcow2', readOnly: true });
  const size = await blk.getLength();
  const out: MapEntry[] = [];
  for (let off = 0; off < size;) {
    const st = await blk.blockStatus(off, size - off);
    const e: MapEntry = { start: off, length: st.length, present: st.allocated, zero: st.zero, data: st.data };
    if (st.offset !== undefined) e.offset = st.offset;
    const prev = out[out.length - 1];
    // qemu-img map merges neighbours with equal flags and contiguous offsets.
    if (prev && prev.present === e.present && prev.zero === e.zero && prev.data === e.data &&
        (prev.offset === undefined) === (e.offset === undefined) &&
        (prev.offset === undefined || prev.offset + prev.length === e.offset)) {
      prev.length += e.length;
    } else {
      out.push(e);
    }
    off += st.length;
  }
  await blk.close();
  return out;
}

function qemuMap(file: string): MapEntry[] {
  return (JSON.parse(qemuImg('map', '--output=json', file)) as Array<MapEntry & { depth: number }>).map((e) => {
    const m: MapEntry = { start: e.start, length: e.length, present: e.present, zero: e.zero, data: e.data };
    if (e.offset !== undefined) m.offset = e.offset;
    return m;
  });
}

describe('map', () => {
  for (const cs of ['4096', '65536']) {
    it(`matches qemu-img map (cluster_size=${cs})`, async () => {
      const f = tmp.path(`map-${cs}.qcow2`);
      qemuImg('create', '-f', 'qcow2', '-o', `cluster_size=${cs}`, f, '8M');
      qemuIo(f, 'write -P 1 0 64k', 'write -P 2 64k 64k', 'write -z 1M 128k', 'write -P 3 2M 8k',
        'write -P 4 3M 64k', 'write -z 3M 64k');
      expect(await ourMap(f)).toEqual(qemuMap(f));
    });
  }
});
