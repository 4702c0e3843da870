// VM state (savevm's machine state; qemu-io `write -b` / `read -b`). The
// qcow2 spec keeps it in the guest address space just past the disk: it
// starts at the first L1 entry the virtual size does not need
// (l1_vm_state_index, i.e. ceil(size / bytes per L2 table)) times the bytes
// one L2 table maps. Reads and writes there are ordinary guest I/O at those
// offsets: clusters and L2 tables are allocated as for the disk, and the L1
// table grows when the VM state reaches past it. One difference from disk
// writes: QEMU's zero test for copy-on-write stops at the end of the disk,
// so a partial new cluster here gets its old content (zeroes) really
// written, never fallocated; save() writes such clusters whole to match.
import { BlockError } from '@tsemu/block-core';
import { ClusterType, Qcow2Extent } from './cluster-map.js';
import { INCOMPAT_CORRUPT } from './constants.js';
import { copyFromIovRange } from './iov-util.js';
import type { Qcow2Image } from './image.js';
import type { Qcow2Reader } from './read-path.js';
import { growL1 } from './resize.js';
import type { Qcow2Writer } from './write-path.js';

/**
 * The L1 size QEMU grows to when a write needs `needed` entries (its
 * non-exact growth, seen with qemu-io 7.2: 1 -> 2, 2 -> 3, 20 -> 30):
 * from the current size (1 if empty), repeatedly times 1.5 rounded up.
 */
export function grownL1Size(current: number, needed: number): number {
  let n = current === 0 ? 1 : current;
  while (n < needed) n = Math.ceil((n * 3) / 2);
  return n;
}

export class Qcow2VmState {
  private readonly ext = new Qcow2Extent();

  constructor(
    private readonly img: Qcow2Image,
    private readonly reader: Qcow2Reader,
    private readonly writer: Qcow2Writer,
  ) {}

  /** Bytes one L2 table maps (one L1 entry). */
  private get perTable(): number {
    return this.img.clusterSize * this.img.map.l2Entries;
  }

  /** Guest offset where the VM state starts (qemu-io `info`'s "vm state offset"). */
  get base(): number {
    const per = this.perTable;
    return Math.ceil(this.img.header.size / per) * per;
  }

  async save(pos: number, length: number, iov: Uint8Array[]): Promise<void> {
    const img = this.img;
    if (img.readOnly) throw new BlockError('EPERM', 'Block node is read-only');
    if ((img.header.incompatibleFeatures & INCOMPAT_CORRUPT) !== 0n) throw new BlockError('EIO');
    if (length === 0) return;
    const start = this.base + pos;
    const needed = Math.ceil((start + length) / this.perTable);
    img.beginRequest();
    try {
      // Write-through like resize: the header names the new table only once it and its refcounts are stable.
      if (needed > img.map.l1Size) {
        await img.lockedWriteThrough(async () => {
          // As QEMU: the old table is freed at once, so the next allocation (the L2 table) may reuse it.
          if (needed > img.map.l1Size) await growL1(img, grownL1Size(img.map.l1Size, needed), true);
        });
      }
      await this.writeWhole(start, length, iov);
    } finally {
      await img.endRequest();
    }
  }

  async load(pos: number, length: number, iov: Uint8Array[]): Promise<void> {
    const img = this.img;
    img.beginRequest();
    try {
      await this.reader.read(this.base + pos, length, iov);
    } finally {
      await img.endRequest();
    }
  }

  /** Writes [start, start+length), widened to whole clusters where a partial edge cluster is not writable in place. */
  private async writeWhole(start: number, length: number, iov: Uint8Array[]): Promise<void> {
    const cs = this.img.clusterSize;
    const end = start + length;
    const head = start % cs && !(await this.inPlace(start)) ? start % cs : 0;
    const tail = end % cs && !(await this.inPlace(end - 1)) ? cs - (end % cs) : 0;
    if (head === 0 && tail === 0) return this.writer.write(start, length, iov);
    // What the guest sees around the new bytes (zeroes, a backing file's, or old data).
    const buf = new Uint8Array(head + length + tail);
    if (head > 0) await this.reader.read(start - head, head, [buf], 0);
    if (tail > 0) await this.reader.read(end, tail, [buf], head + length);
    copyFromIovRange(iov, 0, length, buf, head);
    await this.writer.write(start - head, buf.length, [buf]);
  }

  /** The cluster holding guest `offset` is allocated with COPIED (a write goes there, no copy-on-write). */
  private async inPlace(offset: number): Promise<boolean> {
    const ext = this.ext;
    await this.img.map.lookup(offset, 1, ext);
    const ok = ext.type === ClusterType.Normal && ext.copied;
    ext.table = undefined;
    return ok;
  }
}
