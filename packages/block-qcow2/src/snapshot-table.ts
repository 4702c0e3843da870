// Qcow2SnapshotTable: parsing the internal snapshot table (read only for now:
// the check needs every snapshot's L1 table, `snapshot -l` will need the rest).
import { BlockError } from '@tsemu/block-core';
import type { Qcow2HostFile } from './host-file.js';

export interface Qcow2Snapshot {
  l1Offset: number;
  l1Size: number;
  id: string;
  name: string;
  dateSec: number;
  dateNsec: number;
  vmClockNsec: bigint;
  vmStateSize: number;
  /** Extra data (v3): guest disk size at the time of the snapshot, icount (-1 = none). */
  diskSize?: number;
  icount?: bigint;
  /** The entry's extra data as stored (kept byte for byte when the table is rewritten). */
  extra: Uint8Array;
}

/** QEMU's caps: 65536 snapshots, 64 MiB of table, 1 KiB of extra data per entry. */
const MAX_SNAPSHOTS = 65536;
const MAX_TABLE_BYTES = 64 * 1024 * 1024;
const MAX_EXTRA = 1024;

export interface SnapshotTableResult {
  snapshots: Qcow2Snapshot[];
  /** Bytes the table occupies (for refcounting its clusters). */
  bytes: number;
}

/** What check -r all passes: oversized extra data is cut to the known 24 bytes (reported), not refused. */
export interface SnapshotReadRepair {
  onDiscard(line: string): void;
  /** Entries whose extra data was cut. */
  dropped: number;
}

const HINT = '\nYou can force-remove this extra metadata with qemu-img check -r all';

export async function readSnapshotTable(
  file: Qcow2HostFile, offset: number, count: number, repair?: SnapshotReadRepair,
): Promise<SnapshotTableResult> {
  if (count === 0) return { snapshots: [], bytes: 0 };
  if (count > MAX_SNAPSHOTS) throw new BlockError('EFBIG', 'Too many snapshots');
  const snapshots: Qcow2Snapshot[] = [];
  let pos = offset;
  let length = 0;
  const fixed = new Uint8Array(40);
  const dv = new DataView(fixed.buffer);
  const dec = new TextDecoder();
  for (let i = 0; i < count; i++) {
    await file.read(pos, fixed);
    const idLen = dv.getUint16(12);
    const nameLen = dv.getUint16(14);
    const storedExtra = dv.getUint32(36);
    let extraLen = storedExtra;
    if (storedExtra > MAX_EXTRA) {
      if (repair === undefined) throw new BlockError('EFBIG', `Too much extra metadata in snapshot table entry ${i}${HINT}`);
      repair.onDiscard(`Discarding too much extra metadata in snapshot table entry ${i} (${storedExtra} > ${MAX_EXTRA})`);
      repair.dropped++;
      extraLen = MAX_EXTRA; // QEMU keeps the first 1 KiB and skips the rest
    }
    const rest = new Uint8Array(extraLen + idLen + nameLen);
    await file.read(pos + 40, rest.subarray(0, extraLen));
    await file.read(pos + 40 + storedExtra, rest.subarray(extraLen));
    const extra = new DataView(rest.buffer, 0, extraLen);
    const l1Hi = dv.getUint32(0);
    const s: Qcow2Snapshot = {
      l1Offset: l1Hi * 4294967296 + dv.getUint32(4),
      l1Size: dv.getUint32(8),
      dateSec: dv.getUint32(16),
      dateNsec: dv.getUint32(20),
      vmClockNsec: dv.getBigUint64(24),
      vmStateSize: dv.getUint32(32),
      id: dec.decode(cString(rest.subarray(extraLen, extraLen + idLen))),
      name: dec.decode(cString(rest.subarray(extraLen + idLen))),
      extra: rest.slice(0, extraLen),
    };
    if (extraLen >= 8) s.vmStateSize = Number(extra.getBigUint64(0));
    if (extraLen >= 16) s.diskSize = Number(extra.getBigUint64(8));
    if (extraLen >= 24) s.icount = extra.getBigInt64(16);
    snapshots.push(s);
    pos += (40 + storedExtra + idLen + nameLen + 7) & ~7;
    // The table's length counts cut extra data at its new size, as QEMU's snapshots_size.
    length += (40 + extraLen + idLen + nameLen + 7) & ~7;
    if (pos - offset > MAX_TABLE_BYTES) throw new BlockError('EFBIG', 'Snapshot table too large');
  }
  return { snapshots, bytes: length };
}

/** QEMU keeps ids and names as C strings: anything from a NUL on is not part of them. */
function cString(bytes: Uint8Array): Uint8Array {
  const nul = bytes.indexOf(0);
  return nul < 0 ? bytes : bytes.subarray(0, nul);
}

/** Serialises a table (entries padded to 8 bytes). Extra data: vm_state_size_large, disk_size, icount. */
export function encodeSnapshotTable(snapshots: readonly Qcow2Snapshot[]): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const s of snapshots) {
    const id = enc.encode(s.id);
    const name = enc.encode(s.name);
    const extra = new Uint8Array(Math.max(24, s.extra.length));
    extra.set(s.extra);
    const edv = new DataView(extra.buffer);
    edv.setBigUint64(0, BigInt(s.vmStateSize));
    edv.setBigUint64(8, BigInt(s.diskSize ?? 0));
    edv.setBigInt64(16, s.icount ?? -1n);
    const len = (40 + extra.length + id.length + name.length + 7) & ~7;
    const e = new Uint8Array(len);
    const dv = new DataView(e.buffer);
    dv.setBigUint64(0, BigInt(s.l1Offset));
    dv.setUint32(8, s.l1Size);
    dv.setUint16(12, id.length);
    dv.setUint16(14, name.length);
    dv.setUint32(16, s.dateSec);
    dv.setUint32(20, s.dateNsec);
    dv.setBigUint64(24, s.vmClockNsec);
    dv.setUint32(32, Math.min(s.vmStateSize, 0xffffffff));
    dv.setUint32(36, extra.length);
    e.set(extra, 40);
    e.set(id, 40 + extra.length);
    e.set(name, 40 + extra.length + id.length);
    parts.push(e);
    total += len;
  }
  const out = new Uint8Array(total);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}
