// Qcow2L2Cache: a bounded LRU of L2 tables keyed by host offset. Write-through
// (entries are written to the file as they change), so eviction never writes;
// a table with a write in flight is pinned so a reload cannot see stale bytes.
import type { Qcow2HostFile } from './host-file.js';

export class Qcow2L2Table {
  readonly dv: DataView;
  pins = 0;
  constructor(readonly offset: number, readonly data: Uint8Array) {
    this.dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }
}

export class Qcow2L2Cache {
  private readonly tables = new Map<number, Qcow2L2Table>();
  private readonly loading = new Map<number, Promise<Qcow2L2Table>>();

  constructor(
    private readonly file: Qcow2HostFile,
    private readonly tableSize: number,
    readonly capacity: number,
  ) {}

  /** The cached table, without I/O (undefined on a miss). */
  peek(offset: number): Qcow2L2Table | undefined {
    return this.tables.get(offset);
  }

  get(offset: number): Promise<Qcow2L2Table> | Qcow2L2Table {
    const hit = this.tables.get(offset);
    if (hit !== undefined) {
      // Refresh LRU position only occasionally matters; Map order is insertion order.
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
    if (this.tables.size > this.capacity) this.evict();
  }

  /** Forgets a table (its cluster was freed). */
  drop(offset: number): void {
    this.tables.delete(offset);
  }

  private evict(): void {
    for (const [off, t] of this.tables) {
      if (this.tables.size <= this.capacity) return;
      if (t.pins === 0) this.tables.delete(off);
    }
  }
}
