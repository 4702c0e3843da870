// The VDI namespace: the in-use bitmap READ_VDIS returns, vid allocation by
// FNV-1a of the name with linear probing (as sheep does), and lookups by
// name / snapshot id / tag. Rebuilt from the inode headers at start.
import { SD_NR_VDIS, SD_VDI_BITMAP_SIZE, vdiNameHash, type InodeHeader } from '@tsemu/block-sheepdog';

export interface VdiRecord {
  vid: number;
  name: string;
  tag: string;
  snapId: number;
  /** Non-zero: a snapshot (read-only on 1.0.1). */
  snapCtime: number;
  parentVid: number;
  /** Deleted VDIs keep their bit so probe chains stay intact; they match no lookup. */
  deleted: boolean;
}

export class VdiTable {
  readonly bitmap = Buffer.alloc(SD_VDI_BITMAP_SIZE);
  private readonly byVid = new Map<number, VdiRecord>();

  get(vid: number): VdiRecord | undefined {
    return this.byVid.get(vid);
  }

  all(): VdiRecord[] {
    return [...this.byVid.values()];
  }

  isUsed(vid: number): boolean {
    return (this.bitmap[vid >>> 3]! & (1 << (vid & 7))) !== 0;
  }

  private markUsed(vid: number): void {
    this.bitmap[vid >>> 3]! |= 1 << (vid & 7);
  }

  /** The next free vid after hash(name), probing linearly; undefined when full. */
  allocate(name: string): number | undefined {
    const start = vdiNameHash(name);
    for (let i = 0; i < SD_NR_VDIS; i++) {
      const vid = (start + i) % SD_NR_VDIS;
      if (vid !== 0 && !this.isUsed(vid)) return vid;
    }
    return undefined;
  }

  /** Records (or refreshes) a VDI from its inode header. */
  upsert(vid: number, h: InodeHeader): VdiRecord {
    this.markUsed(vid);
    const rec: VdiRecord = {
      vid, name: h.name, tag: h.tag, snapId: h.snapId, snapCtime: h.snapCtime,
      parentVid: h.parentVdiId, deleted: h.name === '',
    };
    this.byVid.set(vid, rec);
    return rec;
  }

  versions(name: string): VdiRecord[] {
    const out: VdiRecord[] = [];
    for (const r of this.byVid.values()) if (!r.deleted && r.name === name) out.push(r);
    return out.sort((a, b) => a.snapId - b.snapId);
  }

  /** The writable head of a name: the newest version that is not a snapshot (else the newest). */
  current(name: string): VdiRecord | undefined {
    const v = this.versions(name);
    for (let i = v.length - 1; i >= 0; i--) if (v[i]!.snapCtime === 0) return v[i];
    return v[v.length - 1];
  }

  bySnapId(name: string, snapId: number): VdiRecord | undefined {
    return this.versions(name).find((r) => r.snapId === snapId);
  }

  byTag(name: string, tag: string): VdiRecord | undefined {
    return this.versions(name).find((r) => r.tag === tag && r.snapCtime !== 0);
  }
}
