/**
 * Guest memory for user mode: one flat ArrayBuffer starting at guest address 0,
 * with typed-array views for the aligned fast paths (the host is little-endian,
 * like the guests we run).
 *
 * Protection: `perm` holds one byte per 4 KiB page of the whole 32-bit space
 * (PERM_* bits); `noRead` / `noWrite` are derived from it (0 = the fast path
 * may go ahead) so generated code checks an access with one typed-array load
 * OR-ed into the alignment test: one branch. PERM_R is the *effective* read permission (like an x86 host
 * running qemu-user, PROT_WRITE or PROT_EXEC alone still allow reads).
 * PERM_CODE mirrors `codePages` so the store fast path also skips pages
 * holding translated code (their stores take the slow path and invalidate).
 *
 * The slow paths (ld8..st32) check permissions too: on a violation a load
 * returns 0 and a store does nothing, and `fk` / `faultAddr` / `faultMapped`
 * describe the fault until the embedder clears it (`clearFault`). The JS
 * back end's TBs call the throwing forms (l8..s32, given the instruction's pc
 * and count) instead: a fault throws MEMORY_FAULT, which the TB catches to
 * leave with EXIT_FAULT, so each access needs no `fk` test of its own.
 * `write`, `fill`, `read` are unchecked (loader, system calls).
 */
export const PAGE_BITS = 12;
export const PAGE_SIZE = 1 << PAGE_BITS;

export const PERM_R = 1, PERM_W = 2, PERM_X = 4, PERM_MAPPED = 8, PERM_CODE = 16;
/** Kinds of fault (`fk`). */
export const FAULT_READ = 1, FAULT_WRITE = 2, FAULT_EXEC = 3, FAULT_ALIGN = 4;
/** TB exit code: a guest memory access or instruction fetch faulted (see GuestMemory.fk). */
export const EXIT_FAULT = -3;

const PAGES_4G = 1 << (32 - PAGE_BITS);

/** What GuestMemory's throwing slow paths (l8..s32) throw on a fault: one object, never an Error (no stack trace to build). */
export const MEMORY_FAULT: { readonly fault: true } = Object.freeze({ fault: true });

export class GuestMemory {
  readonly buffer: ArrayBufferLike;
  readonly u8: Uint8Array;
  readonly i8: Int8Array;
  readonly u16: Uint16Array;
  readonly i16: Int16Array;
  readonly i32: Int32Array;
  readonly dv: DataView;
  readonly size: number;
  /** Non-zero for pages holding translated code. */
  readonly codePages: Uint8Array;
  /** How many codePages entries are non-zero (protect skips the code-page pass when none). */
  private codePageCount = 0;
  /** PERM_* bits for every page of the 4 GiB guest space (pages past `size` start unmapped). */
  readonly perm: Uint8Array;
  /** 0 where loads may go (PERM_R), 1 elsewhere: the load fast path tests `((a&3)|noRead[a>>>12])===0`, one branch. */
  readonly noRead: Uint8Array;
  /** 0 where the store fast path may write (PERM_W and not PERM_CODE), 1 elsewhere. */
  readonly noWrite: Uint8Array;
  /** Called when a store hits a code page (set by the TB cache). */
  onCodeWrite: (addr: number) => void = () => {};
  /** Pending fault: FAULT_* kind or 0. */
  fk = 0;
  faultAddr = 0;
  /** The faulting page was mapped (SEGV_ACCERR) rather than not (SEGV_MAPERR). */
  faultMapped = false;
  /** Guest pc of the faulting instruction (set by generated code before EXIT_FAULT). */
  faultPc = 0;
  /** Set with faultPc by the throwing slow paths: the TB's count of instructions completed before the faulting one. */
  faultN = 0;

  /** Created with `unmapped` and protect() not called since: every page is still unmapped. */
  private pristineUnmapped = false;

  /**
   * `unmapped`: start with no page mapped (linux-user maps what the process
   * has). Otherwise everything starts accessible (bare TCG use: past the
   * buffer, loads read 0 and stores vanish).
   */
  constructor(size: number, opts: { unmapped?: boolean } = {}) {
    if (size % PAGE_SIZE !== 0) throw new Error('guest memory size must be a multiple of the page size');
    this.size = size;
    // A SharedArrayBuffer (never shared with anyone) where there is one: V8
    // counts a plain ArrayBuffer's bytes as external memory, and 1 GiB of it
    // set off a scavenge and a full mark-compact right at start-up ("external
    // memory pressure", ~4 ms of a static hello's CPU); shared backing stores
    // are not counted per isolate. Reads and writes compile the same.
    this.buffer = typeof SharedArrayBuffer === 'function' ? new SharedArrayBuffer(size) : new ArrayBuffer(size);
    this.u8 = new Uint8Array(this.buffer);
    this.i8 = new Int8Array(this.buffer);
    this.u16 = new Uint16Array(this.buffer);
    this.i16 = new Int16Array(this.buffer);
    this.i32 = new Int32Array(this.buffer);
    this.dv = new DataView(this.buffer);
    this.codePages = new Uint8Array(size >>> PAGE_BITS);
    this.perm = new Uint8Array(PAGES_4G);
    this.noRead = new Uint8Array(PAGES_4G);
    this.noWrite = new Uint8Array(PAGES_4G);
    if (opts.unmapped === true) {
      // perm stays as allocated (0: unmapped) and untouched, which spares
      // writing 1 MiB of fresh pages at every start-up; the fast paths never go.
      this.noRead.fill(1);
      this.noWrite.fill(1);
      this.pristineUnmapped = true;
    } else {
      this.perm.fill(PERM_R | PERM_W | PERM_X | PERM_MAPPED);
      this.blockPastEnd(0, PAGES_4G);
    }
  }

  /** No page has been mapped yet (created `unmapped`, protect() never called). */
  get nothingMapped(): boolean {
    return this.pristineUnmapped;
  }

  /**
   * Pages past the buffer never take the fast paths (their slow paths read 0
   * and drop stores): so a fast-path typed-array read is always in bounds and
   * generated code needs no `|0` to turn an out-of-bounds `undefined` into 0.
   */
  private blockPastEnd(first: number, end: number): void {
    const from = Math.max(first, this.size >>> PAGE_BITS);
    if (from >= end) return;
    this.noRead.fill(1, from, end);
    this.noWrite.fill(1, from, end);
  }

  /** Set the protection of pages [first, last] (PROT_READ=1, WRITE=2, EXEC=4; mapped false = unmapped). */
  protect(first: number, last: number, prot: number, mapped = true): void {
    this.pristineUnmapped = false;
    let v = 0;
    if (mapped) {
      v = PERM_MAPPED | (prot & (PERM_W | PERM_X));
      if (prot & 7) v |= PERM_R;
    }
    const end = Math.min(last + 1, PAGES_4G);
    if (end <= first) return;
    // Fills run at memset speed: linux-user may set up to 2^20 pages at once,
    // which a JavaScript loop took ~12 ms to do, still unoptimised.
    this.perm.fill(v, first, end);
    this.noRead.fill(v & PERM_R ? 0 : 1, first, end);
    this.noWrite.fill(v & PERM_W ? 0 : 1, first, end);
    this.blockPastEnd(first, end);
    if (this.codePageCount !== 0) this.markCodePages(first, Math.min(end, this.codePages.length));
  }

  /** Re-applies PERM_CODE (and the store slow path) to the code pages among [first, end). */
  private markCodePages(first: number, end: number): void {
    const cp = this.codePages, pm = this.perm, nw = this.noWrite;
    for (let p = first; p < end; p++) {
      if (cp[p] === 0) continue;
      pm[p]! |= PERM_CODE;
      nw[p] = 1;
    }
  }

  /** Mark or unmark a page as holding translated code. */
  setCode(page: number, on: boolean): void {
    if (page >= this.codePages.length) return;
    const was = this.codePages[page] !== 0;
    if (was !== on) this.codePageCount += on ? 1 : -1;
    this.codePages[page] = on ? 1 : 0;
    if (on) this.perm[page]! |= PERM_CODE;
    else this.perm[page]! &= ~PERM_CODE;
    this.noWrite[page] = (this.perm[page]! & (PERM_W | PERM_CODE)) === PERM_W ? 0 : 1;
  }

  clearFault(): void { this.fk = 0; }

  /** Record a fault of `kind` at `addr` (the first of an instruction wins). */
  raiseFault(kind: number, addr: number): void {
    if (this.fk !== 0) return; // keep the first fault of an instruction
    this.fk = kind;
    this.faultAddr = addr >>> 0;
    this.faultMapped = (this.perm[addr >>> PAGE_BITS]! & PERM_MAPPED) !== 0;
  }

  /** Check `len` bytes at unsigned `a` for permission bit `bit`; record a fault if not allowed. */
  private ok(a: number, len: number, bit: number, kind: number): boolean {
    const pm = this.perm;
    if ((pm[a >>> PAGE_BITS]! & bit) === 0) { this.raiseFault(kind, a); return false; }
    const b = (a + len - 1) >>> 0;
    if (b >>> PAGE_BITS !== a >>> PAGE_BITS && (pm[b >>> PAGE_BITS]! & bit) === 0) {
      this.raiseFault(kind, b & ~(PAGE_SIZE - 1));
      return false;
    }
    return true;
  }

  /** True when [addr, addr+len) may be written by the guest (signal frames). */
  canWrite(addr: number, len: number): boolean {
    addr >>>= 0;
    for (let p = addr >>> PAGE_BITS; p <= ((addr + len - 1) >>> 0) >>> PAGE_BITS; p++) if ((this.perm[p]! & PERM_W) === 0) return false;
    return true;
  }

  /** Raise an alignment fault at `a` (generated code, for accesses that must be aligned). */
  alignFault(a: number): void { this.raiseFault(FAULT_ALIGN, a); }

  // Slow paths (unaligned, any size, or a page the fast path refused); little-endian, checked.
  ld8(a: number): number { a >>>= 0; return this.ok(a, 1, PERM_R, FAULT_READ) ? this.u8[a]! | 0 : 0; }
  ld16(a: number): number {
    a >>>= 0;
    if (!this.ok(a, 2, PERM_R, FAULT_READ)) return 0;
    return this.u8[a]! | (this.u8[(a + 1) >>> 0]! << 8);
  }
  ld32(a: number): number {
    a >>>= 0;
    if (!this.ok(a, 4, PERM_R, FAULT_READ)) return 0;
    const m = this.u8;
    return m[a]! | (m[a + 1]! << 8) | (m[a + 2]! << 16) | (m[a + 3]! << 24);
  }
  st8(a: number, v: number): void {
    a >>>= 0;
    if (!this.ok(a, 1, PERM_W, FAULT_WRITE)) return;
    this.u8[a] = v; this.touch(a);
  }
  st16(a: number, v: number): void {
    a >>>= 0;
    if (!this.ok(a, 2, PERM_W, FAULT_WRITE)) return;
    this.u8[a] = v; this.u8[a + 1] = v >>> 8; this.touch(a); this.touch(a + 1);
  }
  st32(a: number, v: number): void {
    a >>>= 0;
    if (!this.ok(a, 4, PERM_W, FAULT_WRITE)) return;
    const m = this.u8;
    m[a] = v; m[a + 1] = v >>> 8; m[a + 2] = v >>> 16; m[a + 3] = v >>> 24;
    this.touch(a); this.touch(a + 3);
  }
  // Throwing slow paths for compiled TBs: as ld8..st32, but a fault records
  // the instruction (`pc`, and `n` instructions of the TB done before it)
  // and throws MEMORY_FAULT. One call per slow access, no test after it: the
  // generated source stays short (V8 parses, compiles and tiers it up sooner).
  l8(a: number, pc: number, n: number): number { const v = this.ld8(a); if (this.fk !== 0) this.thrown(pc, n); return v; }
  l16(a: number, pc: number, n: number): number { const v = this.ld16(a); if (this.fk !== 0) this.thrown(pc, n); return v; }
  l32(a: number, pc: number, n: number): number { const v = this.ld32(a); if (this.fk !== 0) this.thrown(pc, n); return v; }
  s8(a: number, v: number, pc: number, n: number): void { this.st8(a, v); if (this.fk !== 0) this.thrown(pc, n); }
  s16(a: number, v: number, pc: number, n: number): void { this.st16(a, v); if (this.fk !== 0) this.thrown(pc, n); }
  s32(a: number, v: number, pc: number, n: number): void { this.st32(a, v); if (this.fk !== 0) this.thrown(pc, n); }
  private thrown(pc: number, n: number): never {
    this.faultPc = pc;
    this.faultN = n;
    throw MEMORY_FAULT;
  }

  private touch(a: number): void {
    if (this.codePages[a >>> PAGE_BITS]) this.onCodeWrite(a);
  }

  /** Copy host bytes in (loader, syscalls), invalidating code it overwrites. */
  write(addr: number, bytes: Uint8Array): void {
    addr >>>= 0;
    if (addr + bytes.length > this.size) throw new RangeError(`guest write out of range at 0x${addr.toString(16)}`);
    this.u8.set(bytes, addr);
    for (let p = addr >>> PAGE_BITS; p <= (addr + bytes.length - 1) >>> PAGE_BITS; p++) {
      if (this.codePages[p]) this.onCodeWrite(p << PAGE_BITS);
    }
  }

  read(addr: number, len: number): Uint8Array {
    addr >>>= 0;
    if (addr + len > this.size) throw new RangeError(`guest read out of range at 0x${addr.toString(16)}`);
    return this.u8.subarray(addr, addr + len);
  }

  readCString(addr: number, max = 65536): string {
    addr >>>= 0;
    let end = addr;
    while (end < this.size && end - addr < max && this.u8[end] !== 0) end++;
    return Buffer.from(this.u8.subarray(addr, end)).toString('utf8');
  }

  fill(addr: number, len: number, v = 0): void {
    this.u8.fill(v, addr >>> 0, (addr >>> 0) + len);
  }
}
