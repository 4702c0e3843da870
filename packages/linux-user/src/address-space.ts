import { PAGE_SIZE, type GuestMemory } from '@tsemu/tcg';

const PAGE_MASK = PAGE_SIZE - 1;
export const pageAlignUp = (x: number): number => (x + PAGE_MASK) & ~PAGE_MASK;

/**
 * Which guest pages are mapped, the program break, and a first-fit search
 * for anonymous mappings. Guest memory itself is one flat buffer; this only
 * decides which addresses the guest may be given.
 */
export class AddressSpace {
  private readonly mapped: Uint8Array;
  brkStart = 0;
  brk = 0;
  readonly mmapBase: number;

  constructor(readonly mem: GuestMemory, mmapBase: number) {
    this.mapped = new Uint8Array(mem.size / PAGE_SIZE);
    this.mmapBase = mmapBase;
  }

  isMapped(addr: number): boolean {
    return this.mapped[(addr >>> 0) / PAGE_SIZE | 0] === 1;
  }

  mark(addr: number, len: number, on: boolean): void {
    const first = Math.floor((addr >>> 0) / PAGE_SIZE), last = Math.floor(((addr >>> 0) + len - 1) / PAGE_SIZE);
    this.mapped.fill(on ? 1 : 0, first, Math.min(last + 1, this.mapped.length));
  }

  /** Find `len` free bytes at or above `hint` (or the mmap base). Returns -1 when none. */
  findFree(len: number, hint = 0): number {
    const pages = pageAlignUp(len) / PAGE_SIZE;
    let start = Math.max(hint >>> 0, this.mmapBase) / PAGE_SIZE | 0;
    let run = 0;
    for (let p = start; p < this.mapped.length; p++) {
      if (this.mapped[p]) { run = 0; start = p + 1; continue; }
      if (++run === pages) return start * PAGE_SIZE;
    }
    return -1;
  }

  fits(addr: number, len: number): boolean {
    return (addr >>> 0) + len <= this.mem.size;
  }

  /** Contents of every mapped run of pages (for a fork). */
  snapshot(): [number, Uint8Array][] {
    const runs: [number, Uint8Array][] = [];
    const m = this.mapped;
    for (let p = 0; p < m.length; p++) {
      if (!m[p]) continue;
      let q = p;
      while (q < m.length && m[q]) q++;
      runs.push([p * PAGE_SIZE, this.mem.u8.slice(p * PAGE_SIZE, q * PAGE_SIZE)]);
      p = q;
    }
    return runs;
  }

  mappedCopy(): Uint8Array {
    return this.mapped.slice();
  }

  restore(runs: [number, Uint8Array][], mapped: Uint8Array, brk: number): void {
    for (const [addr, bytes] of runs) this.mem.u8.set(bytes, addr);
    this.mapped.set(mapped);
    this.brk = brk;
  }

  setBrk(newBrk: number): number {
    newBrk >>>= 0;
    if (newBrk === 0 || newBrk < this.brkStart) return this.brk;
    if (!this.fits(newBrk, 0)) return this.brk;
    const oldTop = pageAlignUp(this.brk), newTop = pageAlignUp(newBrk);
    if (newTop > oldTop) {
      for (let a = oldTop; a < newTop; a += PAGE_SIZE) if (this.isMapped(a)) return this.brk;
      this.mark(oldTop, newTop - oldTop, true);
      this.mem.fill(oldTop, newTop - oldTop);
    }
    // Bytes between the old break and the end of its page are zero already unless the guest shrank and regrew.
    if (newBrk > this.brk) this.mem.fill(this.brk, Math.min(newBrk, oldTop) - this.brk > 0 ? Math.min(newBrk, oldTop) - this.brk : 0);
    this.brk = newBrk;
    return this.brk;
  }
}
