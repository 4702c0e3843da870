// The metadata overlap check QEMU runs before the refcount rebuild writes a
// block or the table (qcow2_pre_write_overlap_check, default "cached" set):
// the new structure must not land on metadata the image still describes,
// such as a refcount block the old table names but the checker did not
// count. Returns the name QEMU reports for the first kind hit, in QEMU's
// order, or undefined.
import type { Qcow2Image } from './image.js';
import { readSnapshotTable } from './snapshot-table.js';

function hits(start: number, len: number, host: number, bytes: number): boolean {
  return len > 0 && host < start + len && host + bytes > start;
}

export async function overlappedMetadata(img: Qcow2Image, host: number, bytes: number): Promise<string | undefined> {
  const cs = img.clusterSize;
  const h = img.header;
  const map = img.map;
  if (host < cs) return 'qcow2_header';
  if (hits(map.l1Offset, map.l1Size * 8, host, bytes)) return 'active L1 table';
  for (let i = 0; i < map.l1Size; i++) {
    if (hits(map.l2Offset(i), map.l2Offset(i) === 0 ? 0 : cs, host, bytes)) return 'active L2 table';
  }
  const rc = img.refcounts;
  if (hits(rc.offset, rc.clusters * cs, host, bytes)) return 'refcount table';
  for (const off of rc.blockOffsets()) if (hits(off, cs, host, bytes)) return 'refcount block';
  if (h.nbSnapshots === 0) return undefined;
  const table = await readSnapshotTable(img.file, h.snapshotsOffset, h.nbSnapshots);
  if (hits(h.snapshotsOffset, table.bytes, host, bytes)) return 'snapshot table';
  for (const s of table.snapshots) if (hits(s.l1Offset, s.l1Size * 8, host, bytes)) return 'inactive L1 table';
  return undefined;
}
