import { PAGE_BITS, PAGE_SIZE, type GuestMemory } from '@tsemu/tcg';
import { MappedFiles } from './mapped-files.js';

const PAGE_MASK = PAGE_SIZE - 1;
export const pageAlignUp = (x: number): number => (x + PAGE_MASK) & ~PAGE_MASK;

export const PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;
/** `mapped` entries: PROT_* bits | MAPPED (so PROT_NONE pages are still mapped). */
const MAPPED = 8;

/**
 * Which guest pages are mapped and with what protection, the program break,
 * and a first-fit search for anonymous mappings. Guest memory itself is one
 * flat buffer; every change here is mirrored into the memory's permission
 * table, which the generated code checks on each access.
 */
export class AddressSpace {
  private readonly mapped: Uint8Array;
  brkStart = 0;
  brk = 0;
  readonly mmapBase: number;
  /** The file each page was mapped from, if any (/proc/self/maps). */
  readonly files: MappedFiles;

  constructor(readonly mem: GuestMemory, mmapBase: number) {
    this.mapped = new Uint8Array(mem.size / PAGE_SIZE);
    this.files = new MappedFiles(this.mapped.length);
    this.mmapBase = mmapBase;
    // Nothing is mapped until the loader and the guest map it (LinuxProcess
    // creates its memory that way; a memory that ever had pages is cleared).
    if (!mem.nothingMapped) mem.protect(0, mem.perm.length - 1, 0, false);
  }

  isMapped(addr: number): boolean {
    return this.mapped[(addr >>> 0) >>> PAGE_BITS]! !== 0;
  }

  /** PROT_* bits of the page holding `addr`, or -1 when unmapped. */
  protOf(addr: number): number {
    return this.protOfPage((addr >>> 0) >>> PAGE_BITS);
  }

  /** PROT_* bits of guest page `page`, or -1 when unmapped. */
  protOfPage(page: number): number {
    const v = this.mapped[page] ?? 0;
    return v ? v & 7 : -1;
  }

  /** Guest pages this address space covers. */
  get pageCount(): number {
    return this.mapped.length;
  }

  private pages(addr: number, len: number): [number, number] {
    const first = (addr >>> 0) >>> PAGE_BITS;
    const last = Math.min((((addr >>> 0) + Math.max(len, 1) - 1) / PAGE_SIZE) | 0, this.mapped.length - 1);
    return [first, last];
  }

  /** Map [addr, addr+len) with `prot` (whole pages), as anonymous memory until `files` says otherwise. */
  map(addr: number, len: number, prot: number): void {
    if (len <= 0) return;
    const [first, last] = this.pages(addr, len);
    this.setProt(first, last, prot);
    this.files.clear(first, last - first + 1);
  }

  private setProt(first: number, last: number, prot: number): void {
    this.mapped.fill(MAPPED | (prot & 7), first, last + 1);
    this.mem.protect(first, last, prot & 7, true);
  }

  unmap(addr: number, len: number): void {
    if (len <= 0) return;
    const [first, last] = this.pages(addr, len);
    this.mapped.fill(0, first, last + 1);
    this.mem.protect(first, last, 0, false);
    this.files.clear(first, last - first + 1);
  }

  /** mprotect: false when part of the range is not mapped (ENOMEM; nothing changes then). */
  protect(addr: number, len: number, prot: number): boolean {
    if (len <= 0) return true;
    const [first, last] = this.pages(addr, len);
    if ((((addr >>> 0) + len - 1) >>> PAGE_BITS) >= this.mapped.length) return false;
    for (let p = first; p <= last; p++) if (!this.mapped[p]) return false;
    this.setProt(first, last, prot); // (still the same file's pages)
    return true;
  }

  /** Old interface: map read+write (on) or unmap (off). */
  mark(addr: number, len: number, on: boolean): void {
    if (on) this.map(addr, len, PROT_READ | PROT_WRITE);
    else this.unmap(addr, len);
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
    // Re-derive the permission table page by page (runs of equal entries).
    const m = this.mapped;
    for (let p = 0; p < m.length;) {
      let q = p;
      while (q + 1 < m.length && m[q + 1] === m[p]) q++;
      this.mem.protect(p, q, m[p]! & 7, m[p] !== 0);
      p = q + 1;
    }
    this.brk = brk;
  }

  setBrk(newBrk: number): number {
    newBrk >>>= 0;
    if (newBrk === 0 || newBrk < this.brkStart) return this.brk;
    if (!this.fits(newBrk, 0)) return this.brk;
    const oldTop = pageAlignUp(this.brk), newTop = pageAlignUp(newBrk);
    if (newTop > oldTop) {
      for (let a = oldTop; a < newTop; a += PAGE_SIZE) if (this.isMapped(a)) return this.brk;
      this.map(oldTop, newTop - oldTop, PROT_READ | PROT_WRITE);
      this.mem.fill(oldTop, newTop - oldTop);
    } else if (newTop < oldTop) {
      // Shrinking gives the pages back, as Linux does: later accesses fault.
      this.unmap(newTop, oldTop - newTop);
    }
    // Bytes between the old break and the end of its page are zero already unless the guest shrank and regrew.
    if (newBrk > this.brk) this.mem.fill(this.brk, Math.min(newBrk, oldTop) - this.brk > 0 ? Math.min(newBrk, oldTop) - this.brk : 0);
    this.brk = newBrk;
    return this.brk;
  }
}
