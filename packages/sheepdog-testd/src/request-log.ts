// What the peer received, for tests that assert the exact wire traffic of a
// cache mode. Bounded: the oldest entries go once the cap is reached.
import { oidToHex, type SheepdogRequestHeader } from '@tsemu/block-sheepdog';

export interface LoggedRequest {
  /** Connection number (1, 2, ...) in accept order: shows long-lived vs short-lived sockets. */
  conn: number;
  id: number;
  protoVer: number;
  opcode: number;
  flags: number;
  dataLength: number;
  /** Object requests: oid / cow oid as 16 hex digits, offset in the object. */
  oid: string;
  cowOid: string;
  offset: number;
  /** VDI requests. */
  vdiSize: number;
  baseVdiId: number;
  snapId: number;
  /** SD_RES_* sent back; undefined until answered. */
  result?: number;
}

export class RequestLog {
  private entries: LoggedRequest[] = [];
  constructor(private readonly cap = 100_000) {}

  add(conn: number, h: SheepdogRequestHeader): LoggedRequest {
    const e: LoggedRequest = {
      conn, id: h.id, protoVer: h.protoVer, opcode: h.opcode, flags: h.flags, dataLength: h.dataLength,
      oid: oidToHex(h.oidHi, h.oidLo), cowOid: oidToHex(h.cowHi, h.cowLo), offset: h.offset,
      vdiSize: h.vdiSize, baseVdiId: h.baseVdiId, snapId: h.snapId,
    };
    if (this.entries.length >= this.cap) this.entries.splice(0, this.entries.length - this.cap + 1);
    this.entries.push(e);
    return e;
  }

  /** A copy of the entries so far. */
  list(): LoggedRequest[] {
    return this.entries.slice();
  }

  clear(): void {
    this.entries = [];
  }
}
