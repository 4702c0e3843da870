// QEMU's snapshot table (qemu-img snapshot -l, and info's "Snapshot list:"),
// and the JSON objects of info's "snapshots" array.
import { sizeToStr, type BlockNode, type SnapshotInfo } from '@tsemu/block-core';

const pad = (s: string, n: number): string => s.padEnd(n);
const lpad = (s: string, n: number): string => s.padStart(n);
const two = (n: number): string => String(n).padStart(2, '0');

/** Local time as strftime("%Y-%m-%d %H:%M:%S"). */
function localDate(sec: number): string {
  const d = new Date(sec * 1000);
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** The guest clock as HH:MM:SS.mmm (hours grow past two digits). */
function vmClock(nsec: number): string {
  const secs = Math.floor(nsec / 1e9);
  const ms = Math.floor(nsec / 1e6) % 1000;
  return `${two(Math.floor(secs / 3600))}:${two(Math.floor(secs / 60) % 60)}:${two(secs % 60)}.${String(ms).padStart(3, '0')}`;
}

export function snapshotTableHeader(): string {
  return pad('ID', 10) + pad('TAG', 17) + lpad('VM SIZE', 8) + lpad('DATE', 20) + lpad('VM CLOCK', 13) + lpad('ICOUNT', 11);
}

export function snapshotTableRow(sn: SnapshotInfo): string {
  const icount = sn.icount === undefined || sn.icount === -1 ? '' : String(sn.icount);
  return `${pad(sn.id, 9)} ${pad(sn.name, 16)} ${lpad(sizeToStr(sn.vmStateSize), 8)}` +
    `${lpad(localDate(sn.dateSec), 20)}${lpad(vmClock(sn.vmClockNsec), 13)}${lpad(icount, 11)}`;
}

/** "Snapshot list:" and the table, or nothing when there are no snapshots (as QEMU). */
export function formatSnapshotList(list: readonly SnapshotInfo[]): string {
  if (list.length === 0) return '';
  return `Snapshot list:\n${snapshotTableHeader()}\n${list.map((s) => `${snapshotTableRow(s)}\n`).join('')}`;
}

/** One entry of info's "snapshots", in the key order qemu-img 7.2 prints. */
export function snapshotJson(sn: SnapshotInfo): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (sn.icount !== undefined && sn.icount !== -1) out.icount = sn.icount;
  out['vm-clock-nsec'] = sn.vmClockNsec % 1e9;
  out.name = sn.name;
  out['date-sec'] = sn.dateSec;
  out['date-nsec'] = sn.dateNsec;
  out['vm-clock-sec'] = Math.floor(sn.vmClockNsec / 1e9);
  out.id = sn.id;
  out['vm-state-size'] = sn.vmStateSize;
  return out;
}

/** Back from the JSON entry (info's human form is printed from the JSON tree). */
export function snapshotFromJson(o: Record<string, unknown>): SnapshotInfo {
  const n = (k: string): number => Number(o[k] ?? 0);
  return {
    id: String(o.id), name: String(o.name), vmStateSize: n('vm-state-size'), dateSec: n('date-sec'), dateNsec: n('date-nsec'),
    vmClockNsec: n('vm-clock-sec') * 1e9 + n('vm-clock-nsec'), icount: o.icount === undefined ? undefined : n('icount'),
  };
}

/**
 * The node whose snapshot hooks answer for `root`: as QEMU's snapshot
 * fallback, a node without them (raw over a sheepdog VDI) passes the
 * question to its `file` child.
 */
export function snapshotNode(root: BlockNode): BlockNode {
  let node = root;
  while (!node.state.listSnapshots && node.file) node = node.file;
  return node;
}
