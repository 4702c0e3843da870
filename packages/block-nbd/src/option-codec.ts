// Payloads of handshake options and their replies, both directions. The
// server decodes what the client encodes and vice versa, so each message is
// written down once.
import {
  NBD_OPTS_MAGIC_HI, NBD_OPTS_MAGIC_LO, NBD_REP_MAGIC_HI, NBD_REP_MAGIC_LO, NbdInfo, NBD_MAX_STRING,
} from './constants.js';
import { WireReader, WireWriter, NbdInvalidOption } from './wire.js';

/** One export as NBD_REP_INFO items describe it. */
export interface NbdExportInfo {
  name: string;
  description?: string;
  size: number;
  /** Transmission flags (16 bits). */
  flags: number;
  minBlock?: number;
  preferredBlock?: number;
  maxBlock?: number;
}

/** C: IHAVEOPT, option, length, data. */
export function encodeOption(option: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  return new WireWriter().u32(NBD_OPTS_MAGIC_HI).u32(NBD_OPTS_MAGIC_LO).u32(option).u32(data.byteLength).bytes(data).finish();
}

/** S: reply magic, option, reply type, length, data. */
export function encodeOptionReply(option: number, type: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  return new WireWriter().u32(NBD_REP_MAGIC_HI).u32(NBD_REP_MAGIC_LO).u32(option).u32(type).u32(data.byteLength).bytes(data).finish();
}

/** NBD_OPT_INFO / NBD_OPT_GO data: export name and the NBD_INFO_* items wanted. */
export interface NbdInfoRequest {
  name: string;
  requests: number[];
}

export function encodeInfoRequest(req: NbdInfoRequest): Uint8Array {
  const w = new WireWriter().string32(req.name).u16(req.requests.length);
  for (const r of req.requests) w.u16(r);
  return w.finish();
}

export function decodeInfoRequest(data: Uint8Array): NbdInfoRequest {
  const r = new WireReader(data);
  const name = r.string(r.u32(), NBD_MAX_STRING);
  const count = r.u16();
  if (count * 2 !== r.remaining) throw new NbdInvalidOption(`information request count ${count} does not match the option length`);
  const requests: number[] = [];
  for (let i = 0; i < count; i++) requests.push(r.u16());
  return { name, requests };
}

/** NBD_OPT_LIST_META_CONTEXT / SET_META_CONTEXT data. */
export interface NbdMetaContextRequest {
  name: string;
  queries: string[];
}

export function encodeMetaContextRequest(req: NbdMetaContextRequest): Uint8Array {
  const w = new WireWriter().string32(req.name).u32(req.queries.length);
  for (const q of req.queries) w.string32(q);
  return w.finish();
}

export function decodeMetaContextRequest(data: Uint8Array): NbdMetaContextRequest {
  const r = new WireReader(data);
  const name = r.string(r.u32(), NBD_MAX_STRING);
  const count = r.u32();
  // Each query needs at least its 4-byte length: reject absurd counts before looping.
  if (count > r.remaining / 4) throw new NbdInvalidOption(`query count ${count} does not fit the option length`);
  const queries: string[] = [];
  for (let i = 0; i < count; i++) queries.push(r.string(r.u32(), NBD_MAX_STRING));
  r.end();
  return { name, queries };
}

/** NBD_REP_SERVER data (answer to NBD_OPT_LIST). */
export function encodeServerReply(name: string, description = ''): Uint8Array {
  return new WireWriter().string32(name).text(description).finish();
}

export function decodeServerReply(data: Uint8Array): { name: string; description: string } {
  const r = new WireReader(data);
  const name = r.string(r.u32(), NBD_MAX_STRING);
  return { name, description: r.rest(NBD_MAX_STRING) };
}

/** NBD_REP_META_CONTEXT data. */
export function encodeMetaContextReply(id: number, name: string): Uint8Array {
  return new WireWriter().u32(id).text(name).finish();
}

export function decodeMetaContextReply(data: Uint8Array): { id: number; name: string } {
  const r = new WireReader(data);
  const id = r.u32();
  return { id, name: r.rest(NBD_MAX_STRING) };
}

export function encodeInfoExport(size: number, flags: number): Uint8Array {
  return new WireWriter().u16(NbdInfo.EXPORT).u64(size).u16(flags).finish();
}

export function encodeInfoName(name: string): Uint8Array {
  return new WireWriter().u16(NbdInfo.NAME).text(name).finish();
}

export function encodeInfoDescription(description: string): Uint8Array {
  return new WireWriter().u16(NbdInfo.DESCRIPTION).text(description).finish();
}

export function encodeInfoBlockSize(min: number, preferred: number, max: number): Uint8Array {
  return new WireWriter().u16(NbdInfo.BLOCK_SIZE).u32(min).u32(preferred).u32(max).finish();
}

/** Applies one NBD_REP_INFO payload to `into`; unknown items are ignored as the protocol asks. */
export function decodeInfoReply(data: Uint8Array, into: NbdExportInfo): void {
  const r = new WireReader(data);
  const type = r.u16();
  switch (type) {
    case NbdInfo.EXPORT:
      into.size = r.u64();
      into.flags = r.u16();
      r.end();
      break;
    case NbdInfo.NAME:
      into.name = r.rest(NBD_MAX_STRING);
      break;
    case NbdInfo.DESCRIPTION:
      into.description = r.rest(NBD_MAX_STRING);
      break;
    case NbdInfo.BLOCK_SIZE:
      into.minBlock = r.u32();
      into.preferredBlock = r.u32();
      into.maxBlock = r.u32();
      r.end();
      break;
    default:
      break;
  }
}

/** NBD_OPT_EXPORT_NAME reply: size, flags and (unless NO_ZEROES) 124 zero bytes. */
export function encodeExportNameReply(size: number, flags: number, noZeroes: boolean): Uint8Array {
  const w = new WireWriter().u64(size).u16(flags);
  if (!noZeroes) w.bytes(new Uint8Array(124));
  return w.finish();
}
