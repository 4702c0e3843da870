// sheep 0.5.6's object cache ("-w object"), reduced to what a client can
// observe: CACHE-flag writes land here dirty and reach the store only on
// FLUSH_VDI; a DIRECT write first flushes and drops the VDI's entries.
// Entries hold a whole object copy; the peer is for tests, not capacity.
import { oidToHex, oidVid } from '@tsemu/block-sheepdog';
import type { ObjectStore } from './object-store.js';

export interface CacheEntry {
  hi: number;
  lo: number;
  size: number;
  data: Buffer;
  dirty: boolean;
  /** Created in the cache and not yet in the store. */
  created: boolean;
  /** Bytes [dirtyStart, dirtyEnd) differ from the store (when dirty and not created). */
  dirtyStart: number;
  dirtyEnd: number;
}

/** Records a write of `length` bytes at `offset` into a cache entry. */
export function markDirty(e: CacheEntry, offset: number, length: number): void {
  if (!e.dirty) {
    e.dirty = true;
    e.dirtyStart = offset;
    e.dirtyEnd = offset + length;
    return;
  }
  e.dirtyStart = Math.min(e.dirtyStart, offset);
  e.dirtyEnd = Math.max(e.dirtyEnd, offset + length);
}

/** Writes an entry's dirty bytes to the store: the whole object if it was created here. */
async function writeBack(store: ObjectStore, e: CacheEntry): Promise<void> {
  if (e.created) await store.put(e.hi, e.lo, e.size, e.data);
  else await store.write(e.hi, e.lo, e.dirtyStart, e.data.subarray(e.dirtyStart, e.dirtyEnd));
  e.dirty = false;
  e.created = false;
}

export class ObjectCache {
  private readonly entries = new Map<string, CacheEntry>();

  get(hi: number, lo: number): CacheEntry | undefined {
    return this.entries.get(oidToHex(hi, lo));
  }

  set(entry: CacheEntry): void {
    this.entries.set(oidToHex(entry.hi, entry.lo), entry);
  }

  delete(hi: number, lo: number): void {
    this.entries.delete(oidToHex(hi, lo));
  }

  get dirtyCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.dirty) n++;
    return n;
  }

  /** Writes the VDI's dirty objects to the store (FLUSH_VDI); drops them too when asked. */
  async flushVdi(store: ObjectStore, vid: number, drop: boolean): Promise<void> {
    for (const [key, e] of [...this.entries]) {
      if (oidVid(e.hi) !== vid) continue;
      if (e.dirty) await writeBack(store, e);
      if (drop) this.entries.delete(key);
    }
  }

  async flushAll(store: ObjectStore): Promise<void> {
    for (const e of this.entries.values()) {
      if (e.dirty) await writeBack(store, e);
    }
  }

  /** A daemon crash: unflushed data is gone. Returns how many dirty objects were lost. */
  loseAll(): number {
    const lost = this.dirtyCount;
    this.entries.clear();
    return lost;
  }
}
