// The inode (VDI) object layout, section 5.2 of the spec. Both sides keep the
// whole object in a Buffer and read/write fields in place.
import { SD_MAX_VDI_LEN, SD_MAX_VDI_TAG_LEN, MAX_DATA_OBJS } from './constants.js';

export const INODE_NAME = 0;
export const INODE_TAG = 256;
export const INODE_CTIME = 512;
export const INODE_SNAP_CTIME = 520;
export const INODE_VM_CLOCK_NSEC = 528;
export const INODE_VDI_SIZE = 536;
export const INODE_VM_STATE_SIZE = 544;
export const INODE_COPY_POLICY = 552;
export const INODE_NR_COPIES = 554;
export const INODE_BLOCK_SIZE_SHIFT = 555;
export const INODE_SNAP_ID = 556;
export const INODE_VDI_ID = 560;
export const INODE_PARENT_VDI_ID = 564;
export const INODE_CHILD_VDI_ID = 568;
export const INODE_DATA_VDI_ID = 4664;
export const SD_INODE_HEADER_SIZE = INODE_DATA_VDI_ID;
export const SD_INODE_SIZE = INODE_DATA_VDI_ID + 4 * MAX_DATA_OBJS; // 4,198,968

const TWO_32 = 0x100000000;

export function readU64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * TWO_32;
}
export function writeU64(buf: Buffer, at: number, value: number): void {
  buf.writeUInt32LE(value % TWO_32 >>> 0, at);
  buf.writeUInt32LE(Math.floor(value / TWO_32) >>> 0, at + 4);
}

/** A NUL-padded string field (the tag need not be NUL terminated). */
export function readCString(buf: Buffer, at: number, max: number): string {
  const end = buf.indexOf(0, at);
  return buf.toString('utf8', at, end < 0 || end > at + max ? at + max : end);
}
export function writeCString(buf: Buffer, at: number, max: number, text: string): void {
  buf.fill(0, at, at + max);
  buf.write(text, at, max, 'utf8');
}

/** The 256-byte name or 512-byte name+tag payload of LOCK_VDI / GET_VDI_INFO / NEW_VDI. */
export function encodeVdiNamePayload(name: string, tag?: string): Buffer {
  const buf = Buffer.alloc(tag === undefined ? SD_MAX_VDI_LEN : SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN);
  buf.write(name, 0, SD_MAX_VDI_LEN - 1, 'utf8');
  if (tag !== undefined) buf.write(tag, SD_MAX_VDI_LEN, SD_MAX_VDI_TAG_LEN, 'utf8');
  return buf;
}

export function inodeDataVdiId(inode: Buffer, index: number): number {
  return inode.readUInt32LE(INODE_DATA_VDI_ID + 4 * index);
}
export function setInodeDataVdiId(inode: Buffer, index: number, vid: number): void {
  inode.writeUInt32LE(vid >>> 0, INODE_DATA_VDI_ID + 4 * index);
}

/** Header fields, decoded (for info, snapshot lists, the test peer). */
export interface InodeHeader {
  name: string;
  tag: string;
  ctime: number;
  snapCtime: number;
  vmClockNsec: number;
  vdiSize: number;
  vmStateSize: number;
  copyPolicy: number;
  nrCopies: number;
  blockSizeShift: number;
  snapId: number;
  vdiId: number;
  parentVdiId: number;
}

export function decodeInodeHeader(buf: Buffer): InodeHeader {
  return {
    name: readCString(buf, INODE_NAME, SD_MAX_VDI_LEN),
    tag: readCString(buf, INODE_TAG, SD_MAX_VDI_TAG_LEN),
    ctime: readU64(buf, INODE_CTIME),
    snapCtime: readU64(buf, INODE_SNAP_CTIME),
    vmClockNsec: readU64(buf, INODE_VM_CLOCK_NSEC),
    vdiSize: readU64(buf, INODE_VDI_SIZE),
    vmStateSize: readU64(buf, INODE_VM_STATE_SIZE),
    copyPolicy: buf.readUInt16LE(INODE_COPY_POLICY),
    nrCopies: buf.readUInt8(INODE_NR_COPIES),
    blockSizeShift: buf.readUInt8(INODE_BLOCK_SIZE_SHIFT),
    snapId: buf.readUInt32LE(INODE_SNAP_ID),
    vdiId: buf.readUInt32LE(INODE_VDI_ID),
    parentVdiId: buf.readUInt32LE(INODE_PARENT_VDI_ID),
  };
}

/** The ctime encoding: high 32 bits seconds, low 32 nanoseconds. */
export function encodeCtime(ms: number): number {
  const seconds = Math.floor(ms / 1000);
  return seconds * TWO_32 + (ms % 1000) * 1_000_000;
}
