// Qcow2L2Cache: a bounded LRU of L2 tables keyed by host offset, written back
// lazily: a changed table is marked dirty and reaches the file when
// Qcow2MetadataCache writes it back (flush, close, capacity pressure), after
// the refcount blocks it depends on. Dirty (and pinned) tables are never
// evicted; the cache may exceed its capacity until the next write-back.
// In write-through mode (rare structural operations) changes are written at once.
import type { Qcow2HostFile } from './host-file.js';

export class Qcow2L2Table {
  readonly dv: DataView;
  pins = 0;
  /** Changed in memory, not yet written to the file. */
  dirty = false;
  constructor(readonly offset: number, readonly data: Uint8Array) {
    this.dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }
}

export class Qcow2L2Cache {
  private readonly tables = new Map<number, Qcow2L2Table>();
  private readonly loading = new Map<number, Promise<Qcow2L2Table>>();
  private readonly dirtyTables = new Set<Qcow2L2Table>();
  /** Write changes immediately instead of marking tables dirty (see Qcow2Image.writeThrough). */
  writeThrough = false;

  constructor(
    private readonly file: Qcow2HostFile,
    private readonly tableSize: number,
    readonly capacity: number,
  ) {}

  get dirtyCount(): number {
    return this.dirtyTables.size;
  }

  /** More tables than the capacity: only dirty (or pinned) ones are left to evict. */
  get overCapacity(): boolean {
    return this.tables.size > this.capacity && this.dirtyTables.size > 0;
  }

  /** The cached table, without I/O (undefined on a miss). */
  peek(offset: number): Qcow2L2Table | undefined {
    return this.tables.get(offset);
  }

  get(offset: number): Promise<Qcow2L2Table> | Qcow2L2Table {
    const hit = this.tables.get(offset);
    if (hit !== undefined) {
      // Map order is the LRU order: move the hit to the end.
      this.tables.delete(offset);
      this.tables.set(offset, hit);
      return hit;
    }
    let p = this.loading.get(offset);
    if (p === undefined) {
      p = this.load(offset);
      this.loading.set(offset, p);
    }
    return p;
  }

  private async load(offset: number): Promise<Qcow2L2Table> {
    try {
      const data = new Uint8Array(this.tableSize);
      await this.file.read(offset, data);
      const t = new Qcow2L2Table(offset, data);
      this.insert(t);
      return t;
    } finally {
      this.loading.delete(offset);
    }
  }

  /** Adds a table built in memory (a new or copied L2 table). */
  insert(t: Qcow2L2Table): void {
    this.tables.set(t.offset, t);
    // Never the table just inserted: its caller is about to use (maybe change) it.
    if (this.tables.size > this.capacity) this.evict(t);
  }

  /** Records a change to entries [from, to) of `t`: written now (write-through) or marked dirty. */
  async changed(t: Qcow2L2Table, from: number, to: number): Promise<void> {
    if (!this.writeThrough) {
      this.markChanged(t);
      return;
    }
    t.pins++;
    try {
      await this.file.write(t.offset + from * 8, t.data.subarray(from * 8, to * 8));
    } finally {
      t.pins--;
    }
  }

  /** changed() in write-back mode (the caller checked writeThrough): marks `t` dirty, synchronously. */
  markChanged(t: Qcow2L2Table): void {
    // A copy evicted between lookup and change becomes the live one again,
    // so later lookups see the change (it holds everything the file has).
    if (this.tables.get(t.offset) !== t) this.tables.set(t.offset, t);
    if (!t.dirty) {
      t.dirty = true;
      this.dirtyTables.add(t);
    }
  }

  /** Writes every dirty table (caller: Qcow2MetadataCache, after the refcounts they depend on). */
  async writeBack(): Promise<void> {
    for (const t of this.dirtyTables) {
      // Cleared first: a change made while the write is in flight marks it dirty again.
      t.dirty = false;
      this.dirtyTables.delete(t);
      t.pins++;
      try {
        await this.file.write(t.offset, t.data);
      } catch (err) {
        t.dirty = true;
        this.dirtyTables.add(t);
        throw err;
      } finally {
        t.pins--;
      }
    }
    if (this.tables.size > this.capacity) this.evict(undefined);
  }

  /** Forgets a table (its cluster was freed or it was replaced): pending changes are dropped with it. */
  drop(offset: number): void {
    const t = this.tables.get(offset);
    if (t !== undefined && t.dirty) {
      t.dirty = false;
      this.dirtyTables.delete(t);
    }
    this.tables.delete(offset);
  }

  private evict(keep: Qcow2L2Table | undefined): void {
    for (const [off, t] of this.tables) {
      if (this.tables.size <= this.capacity) return;
      if (t.pins === 0 && !t.dirty && t !== keep) this.tables.delete(off);
    }
  }
}
