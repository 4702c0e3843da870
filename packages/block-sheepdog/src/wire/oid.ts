// Object ids are u64, but every field fits in one of two u32 halves:
// hi = flag bits 61-63 | vid (bits 32-55), lo = object index (bits 0-19).
// Keeping them as two numbers avoids BigInt on the request path.

export const VDI_BIT_HI = 0x80000000; // bit 63: inode object
export const VMSTATE_BIT_HI = 0x40000000; // bit 62: VM-state object
export const VDI_ATTR_BIT_HI = 0x20000000; // bit 61: attribute object
const VID_MASK = 0xffffff;

export function inodeOidHi(vid: number): number {
  return (VDI_BIT_HI | (vid & VID_MASK)) >>> 0;
}
export function dataOidHi(vid: number): number {
  return vid & VID_MASK;
}
export function vmstateOidHi(vid: number): number {
  return (VMSTATE_BIT_HI | (vid & VID_MASK)) >>> 0;
}
/** The vid an oid belongs to (the flag bits dropped). */
export function oidVid(hi: number): number {
  return hi & VID_MASK;
}
export function isInodeOid(hi: number): boolean {
  return (hi & VDI_BIT_HI) !== 0;
}
export function isVmstateOid(hi: number): boolean {
  return (hi & VMSTATE_BIT_HI) !== 0;
}
export function isAttrOid(hi: number): boolean {
  return (hi & VDI_ATTR_BIT_HI) !== 0;
}
/** 16 hex digits, as sheep names its object files. */
export function oidToHex(hi: number, lo: number): string {
  return (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
}

/** FNV-1a 64-bit of the name's bytes, low 24 bits: where the server starts probing for a vid. */
export function vdiNameHash(name: string): number {
  const bytes = Buffer.from(name, 'utf8');
  let hash = 0xcbf29ce484222325n;
  for (const b of bytes) {
    hash ^= BigInt(b);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return Number(hash & 0xffffffn);
}
