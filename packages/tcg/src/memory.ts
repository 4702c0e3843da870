/**
 * Guest memory for user mode: one flat ArrayBuffer starting at guest address 0,
 * with typed-array views for the aligned fast paths (the host is little-endian,
 * like the guests we run). `codePages` marks pages holding translated code so
 * stores there can invalidate translations.
 */
export const PAGE_BITS = 12;
export const PAGE_SIZE = 1 << PAGE_BITS;

export class GuestMemory {
  readonly buffer: ArrayBuffer;
  readonly u8: Uint8Array;
  readonly i8: Int8Array;
  readonly u16: Uint16Array;
  readonly i16: Int16Array;
  readonly i32: Int32Array;
  readonly dv: DataView;
  readonly size: number;
  /** Non-zero for pages holding translated code. */
  readonly codePages: Uint8Array;
  /** Called when a store hits a code page (set by the TB cache). */
  onCodeWrite: (addr: number) => void = () => {};

  constructor(size: number) {
    if (size % PAGE_SIZE !== 0) throw new Error('guest memory size must be a multiple of the page size');
    this.size = size;
    this.buffer = new ArrayBuffer(size);
    this.u8 = new Uint8Array(this.buffer);
    this.i8 = new Int8Array(this.buffer);
    this.u16 = new Uint16Array(this.buffer);
    this.i16 = new Int16Array(this.buffer);
    this.i32 = new Int32Array(this.buffer);
    this.dv = new DataView(this.buffer);
    this.codePages = new Uint8Array(size >>> PAGE_BITS);
  }

  // Slow paths (unaligned or any size); little-endian.
  ld8(a: number): number { return this.u8[a >>> 0]! | 0; }
  ld16(a: number): number { a >>>= 0; return this.u8[a]! | (this.u8[a + 1]! << 8); }
  ld32(a: number): number {
    a >>>= 0;
    const m = this.u8;
    return m[a]! | (m[a + 1]! << 8) | (m[a + 2]! << 16) | (m[a + 3]! << 24);
  }
  st8(a: number, v: number): void { a >>>= 0; this.u8[a] = v; this.touch(a); }
  st16(a: number, v: number): void { a >>>= 0; this.u8[a] = v; this.u8[a + 1] = v >>> 8; this.touch(a); this.touch(a + 1); }
  st32(a: number, v: number): void {
    a >>>= 0;
    const m = this.u8;
    m[a] = v; m[a + 1] = v >>> 8; m[a + 2] = v >>> 16; m[a + 3] = v >>> 24;
    this.touch(a); this.touch(a + 3);
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
