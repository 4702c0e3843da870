// Page-aligned buffers for I/O. Node promises nothing about where an
// ArrayBuffer's bytes sit, and the kernel's copies between the page cache and
// a buffer 16 bytes past a page start (where glibc puts large malloc'd blocks)
// hit 4K aliasing: 2 MiB preads ran ~4x slower (0.21 vs 0.05 ms/MiB).
// WebAssembly.Memory is different: V8 maps its backing store with the page
// allocator (mmap), so byte 0 is page-aligned (test/aligned.test.ts checks the
// real address through /proc/self/mem). It is one mapping per buffer with
// 64 KiB granularity, so use this for long-lived buffers, not per request.

/** WebAssembly pages are 64 KiB; their mapping starts on a host page. */
const WASM_PAGE = 65536;
/** Largest memory32 size in wasm pages (4 GiB). */
const WASM_MAX_PAGES = 65536;
/** glibc serves big blocks by mmap with the data this many bytes past a page start. */
const MALLOC_HEADER = 16;

/** The one piece of the WebAssembly API used here (the tsconfig's libs do not declare it). */
type WasmMemoryConstructor = new (descriptor: { initial: number; maximum?: number }) => { readonly buffer: ArrayBuffer };
const WasmMemory = (globalThis as { WebAssembly?: { Memory?: WasmMemoryConstructor } }).WebAssembly?.Memory;

/**
 * `size` zeroed bytes whose first byte is `align`-aligned (align a power of
 * two, at most 64 KiB). Without WebAssembly (node --jitless) or for sizes
 * past 4 GiB it over-allocates and skips glibc's malloc header, which is
 * right for mmap-served blocks and harmless elsewhere.
 */
export function allocAlignedBuffer(size: number, align = 4096): Uint8Array<ArrayBuffer> {
  if (!(align > 0 && (align & (align - 1)) === 0 && align <= WASM_PAGE)) {
    throw new RangeError(`alignment must be a power of two up to ${WASM_PAGE}: ${align}`);
  }
  const pages = Math.max(1, Math.ceil(size / WASM_PAGE));
  if (WasmMemory && pages <= WASM_MAX_PAGES) {
    try {
      return new Uint8Array(new WasmMemory({ initial: pages, maximum: pages }).buffer, 0, size);
    } catch {
      // Out of address space for another wasm reservation: fall through.
    }
  }
  const skip = (align - (MALLOC_HEADER % align)) % align;
  return new Uint8Array(new ArrayBuffer(size + align), skip, size);
}
