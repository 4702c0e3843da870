// What the peer received, for tests that assert the exact wire traffic of a
// cache mode. Bounded: once the cap is reached the oldest quarter goes at
// once (amortised O(1) per request). An entry keeps the raw oid halves; the
// hex strings are made only when a test reads them, not on the request path.
import { oidToHex, type SheepdogRequestHeader } from '@tsemu/block-sheepdog';

export class LoggedRequest {
  /** Object requests: oid / cow oid halves, offset in the object. */
  readonly oidHi: number;
  readonly oidLo: number;
  readonly cowHi: number;
  readonly cowLo: number;
  readonly id: number;
  readonly protoVer: number;
  readonly opcode: number;
  readonly flags: number;
  readonly dataLength: number;
  readonly offset: number;
  /** VDI requests. */
  readonly vdiSize: number;
  readonly baseVdiId: number;
  readonly snapId: number;
  /** SD_RES_* sent back; undefined until answered. */
  result?: number;

  constructor(
    /** Connection number (1, 2, ...) in accept order: shows long-lived vs short-lived sockets. */
    readonly conn: number,
    h: SheepdogRequestHeader,
  ) {
    this.id = h.id;
    this.protoVer = h.protoVer;
    this.opcode = h.opcode;
    this.flags = h.flags;
    this.dataLength = h.dataLength;
    this.oidHi = h.oidHi;
    this.oidLo = h.oidLo;
    this.cowHi = h.cowHi;
    this.cowLo = h.cowLo;
    this.offset = h.offset;
    this.vdiSize = h.vdiSize;
    this.baseVdiId = h.baseVdiId;
    this.snapId = h.snapId;
  }

  /** The oid as 16 hex digits. */
  get oid(): string {
    return oidToHex(this.oidHi, this.oidLo);
  }

  get cowOid(): string {
    return oidToHex(this.cowHi, this.cowLo);
  }
}

export class RequestLog {
  private entries: LoggedRequest[] = [];
  constructor(private readonly cap = 100_000) {}

  add(conn: number, h: SheepdogRequestHeader): LoggedRequest {
    const e = new LoggedRequest(conn, h);
    if (this.entries.length >= this.cap) this.entries.splice(0, Math.max(1, this.cap >> 2));
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
