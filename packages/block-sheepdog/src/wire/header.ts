// The 48-byte request and reply headers, little-endian on the wire (QEMU and
// sheep send host order; on x86 that is LE). Encoders write into a buffer the
// caller owns so the request path can reuse preallocated headers.
import { SD_HEADER_SIZE } from './constants.js';

const TWO_32 = 0x100000000;

function putU64(buf: Buffer, at: number, value: number): void {
  buf.writeUInt32LE(value % TWO_32 >>> 0, at);
  buf.writeUInt32LE(Math.floor(value / TWO_32) >>> 0, at + 4);
}
function getU64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * TWO_32;
}

/** Object request (ops 0x01-0x03, 0x05, 0x16). `offset` is within the object. */
export function encodeObjRequest(
  buf: Buffer, opcode: number, flags: number, id: number, dataLength: number,
  oidHi: number, oidLo: number, cowHi: number, cowLo: number, copies: number, offset: number,
): void {
  buf.writeUInt8(0, 0); // proto_ver: QEMU 1.4 sends 0 on object requests
  buf.writeUInt8(opcode, 1);
  buf.writeUInt16LE(flags, 2);
  buf.writeUInt32LE(0, 4); // epoch
  buf.writeUInt32LE(id >>> 0, 8);
  buf.writeUInt32LE(dataLength >>> 0, 12);
  buf.writeUInt32LE(oidLo >>> 0, 16);
  buf.writeUInt32LE(oidHi >>> 0, 20);
  buf.writeUInt32LE(cowLo >>> 0, 24);
  buf.writeUInt32LE(cowHi >>> 0, 28);
  buf.writeUInt32LE(copies >>> 0, 32);
  buf.writeUInt32LE(0, 36);
  putU64(buf, 40, offset);
}

/** VDI request (ops 0x11-0x15, 0x17). */
export function encodeVdiRequest(
  buf: Buffer, protoVer: number, opcode: number, flags: number, id: number, dataLength: number,
  vdiSize: number, baseVdiId: number, copies: number, snapId: number,
): void {
  buf.fill(0, 0, SD_HEADER_SIZE);
  buf.writeUInt8(protoVer, 0);
  buf.writeUInt8(opcode, 1);
  buf.writeUInt16LE(flags, 2);
  buf.writeUInt32LE(id >>> 0, 8);
  buf.writeUInt32LE(dataLength >>> 0, 12);
  putU64(buf, 16, vdiSize);
  buf.writeUInt32LE(baseVdiId >>> 0, 24);
  buf.writeUInt32LE(copies >>> 0, 28);
  buf.writeUInt32LE(snapId >>> 0, 32);
}

/** A decoded request header: the server side and the tests read these. */
export interface SheepdogRequestHeader {
  protoVer: number;
  opcode: number;
  flags: number;
  epoch: number;
  id: number;
  dataLength: number;
  // object requests
  oidHi: number;
  oidLo: number;
  cowHi: number;
  cowLo: number;
  copies: number;
  offset: number;
  // VDI requests (same bytes, other meaning)
  vdiSize: number;
  baseVdiId: number;
  vdiCopies: number;
  snapId: number;
}

export function decodeRequest(buf: Buffer): SheepdogRequestHeader {
  return {
    protoVer: buf.readUInt8(0),
    opcode: buf.readUInt8(1),
    flags: buf.readUInt16LE(2),
    epoch: buf.readUInt32LE(4),
    id: buf.readUInt32LE(8),
    dataLength: buf.readUInt32LE(12),
    oidLo: buf.readUInt32LE(16),
    oidHi: buf.readUInt32LE(20),
    cowLo: buf.readUInt32LE(24),
    cowHi: buf.readUInt32LE(28),
    copies: buf.readUInt32LE(32),
    offset: getU64(buf, 40),
    vdiSize: getU64(buf, 16),
    baseVdiId: buf.readUInt32LE(24),
    vdiCopies: buf.readUInt32LE(28),
    snapId: buf.readUInt32LE(32),
  };
}

/** Reply header. `vdiId` goes at offset 24 (VDI replies); object replies leave it 0. */
export function encodeReply(
  buf: Buffer, opcode: number, flags: number, id: number, dataLength: number, result: number, vdiId: number,
): void {
  buf.fill(0, 0, SD_HEADER_SIZE);
  buf.writeUInt8(opcode, 1); // proto_ver 0, as both sheep releases answer
  buf.writeUInt16LE(flags, 2);
  buf.writeUInt32LE(id >>> 0, 8);
  buf.writeUInt32LE(dataLength >>> 0, 12);
  buf.writeUInt32LE(result >>> 0, 16);
  buf.writeUInt32LE(vdiId >>> 0, 24);
}

export function replyOpcode(buf: Buffer): number {
  return buf.readUInt8(1);
}
export function replyId(buf: Buffer): number {
  return buf.readUInt32LE(8);
}
export function replyDataLength(buf: Buffer): number {
  return buf.readUInt32LE(12);
}
export function replyResult(buf: Buffer): number {
  return buf.readUInt32LE(16);
}
export function replyVdiId(buf: Buffer): number {
  return buf.readUInt32LE(24);
}
