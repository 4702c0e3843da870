// Small I/O-vector helpers for byte ranges [pos, pos+n) of an iov, without
// building sliced arrays on the common single-buffer path.

/** Calls into `file.read` for each part of the iov range; `host` maps to iov position `pos`. */
export async function readIntoIov(
  read: { read(offset: number, buf: Uint8Array): Promise<void> },
  host: number, iov: readonly Uint8Array[], pos: number, n: number,
): Promise<void> {
  if (iov.length === 1) return read.read(host, iov[0]!.subarray(pos, pos + n));
  let base = 0;
  const end = pos + n;
  for (let i = 0; i < iov.length && base < end; i++) {
    const b = iov[i]!;
    const from = Math.max(pos, base);
    const to = Math.min(end, base + b.length);
    if (from < to) await read.read(host + (from - pos), b.subarray(from - base, to - base));
    base += b.length;
  }
}

/** Writes the iov range to `host` (one write per iov piece). */
export async function writeFromIov(
  file: { write(offset: number, buf: Uint8Array): Promise<void> },
  host: number, iov: readonly Uint8Array[], pos: number, n: number,
): Promise<void> {
  if (iov.length === 1) return file.write(host, iov[0]!.subarray(pos, pos + n));
  let base = 0;
  const end = pos + n;
  for (let i = 0; i < iov.length && base < end; i++) {
    const b = iov[i]!;
    const from = Math.max(pos, base);
    const to = Math.min(end, base + b.length);
    if (from < to) await file.write(host + (from - pos), b.subarray(from - base, to - base));
    base += b.length;
  }
}

/** Zero-fills the iov range. */
export function zeroIovRange(iov: readonly Uint8Array[], pos: number, n: number): void {
  let base = 0;
  const end = pos + n;
  for (let i = 0; i < iov.length && base < end; i++) {
    const b = iov[i]!;
    const from = Math.max(pos, base);
    const to = Math.min(end, base + b.length);
    if (from < to) b.fill(0, from - base, to - base);
    base += b.length;
  }
}

/** Copies `src[srcOff, srcOff+n)` into the iov range starting at `pos`. */
export function copyIntoIov(src: Uint8Array, srcOff: number, iov: readonly Uint8Array[], pos: number, n: number): void {
  let base = 0;
  const end = pos + n;
  for (let i = 0; i < iov.length && base < end; i++) {
    const b = iov[i]!;
    const from = Math.max(pos, base);
    const to = Math.min(end, base + b.length);
    if (from < to) b.set(src.subarray(srcOff + (from - pos), srcOff + (to - pos)), from - base);
    base += b.length;
  }
}

/** Copies the iov range into `dst` at `dstOff`. */
export function copyFromIovRange(iov: readonly Uint8Array[], pos: number, n: number, dst: Uint8Array, dstOff: number): void {
  let base = 0;
  const end = pos + n;
  for (let i = 0; i < iov.length && base < end; i++) {
    const b = iov[i]!;
    const from = Math.max(pos, base);
    const to = Math.min(end, base + b.length);
    if (from < to) dst.set(b.subarray(from - base, to - base), dstOff + (from - pos));
    base += b.length;
  }
}
