import type { Stats } from 'node:fs';

/** Write ARM EABI `struct stat64` (104 bytes) at `p`. */
export function writeStat64(dv: DataView, p: number, st: Stats): void {
  const u64 = (o: number, v: number | bigint): void => dv.setBigUint64(p + o, BigInt(v), true);
  const u32 = (o: number, v: number): void => dv.setUint32(p + o, v >>> 0, true);
  for (let i = 0; i < 104; i += 4) u32(i, 0);
  u64(0, st.dev);
  u32(12, st.ino);
  u32(16, st.mode);
  u32(20, st.nlink);
  u32(24, st.uid);
  u32(28, st.gid);
  u64(32, st.rdev);
  u64(48, st.size);
  u32(56, st.blksize);
  u64(64, st.blocks);
  const t = (o: number, ms: number): void => { u32(o, Math.floor(ms / 1000)); u32(o + 4, Math.floor((ms % 1000) * 1e6)); };
  t(72, st.atimeMs);
  t(80, st.mtimeMs);
  t(88, st.ctimeMs);
  u64(96, st.ino);
}

/** Write `struct statx` (256 bytes) at `p`. */
export function writeStatx(dv: DataView, p: number, st: Stats): void {
  for (let i = 0; i < 256; i += 4) dv.setUint32(p + i, 0, true);
  dv.setUint32(p, 0x7ff, true); // STATX_BASIC_STATS
  dv.setUint32(p + 4, st.blksize, true);
  dv.setUint32(p + 16, st.nlink, true);
  dv.setUint32(p + 20, st.uid, true);
  dv.setUint32(p + 24, st.gid, true);
  dv.setUint16(p + 28, st.mode, true);
  dv.setBigUint64(p + 32, BigInt(st.ino), true);
  dv.setBigUint64(p + 40, BigInt(st.size), true);
  dv.setBigUint64(p + 48, BigInt(st.blocks), true);
  const ts = (o: number, ms: number): void => {
    dv.setBigInt64(p + o, BigInt(Math.floor(ms / 1000)), true);
    dv.setUint32(p + o + 8, Math.floor((ms % 1000) * 1e6), true);
  };
  ts(64, st.atimeMs);
  ts(80, st.birthtimeMs);
  ts(96, st.ctimeMs);
  ts(112, st.mtimeMs);
  dv.setUint32(p + 128, Number(BigInt(st.rdev) >> 8n) & 0xfff, true);
  dv.setUint32(p + 132, st.rdev & 0xff, true);
  dv.setUint32(p + 136, Number(BigInt(st.dev) >> 8n) & 0xfff, true);
  dv.setUint32(p + 140, st.dev & 0xff, true);
}

/** struct utsname: six 65-byte fields. */
export function writeUtsname(u8: Uint8Array, p: number, fields: string[]): void {
  u8.fill(0, p, p + 65 * 6);
  fields.forEach((f, i) => u8.set(Buffer.from(f.slice(0, 64), 'utf8'), p + i * 65));
}
