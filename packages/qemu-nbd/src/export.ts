// One export: a BlockBackend under a name, with the transmission flags
// qemu-nbd 7.2 advertises for it.
import type { BlockBackend } from '@tsemu/block-core';
import { StatusCache } from './status-cache.js';
import {
  NBD_FLAG_CAN_MULTI_CONN, NBD_FLAG_HAS_FLAGS, NBD_FLAG_READ_ONLY, NBD_FLAG_SEND_CACHE, NBD_FLAG_SEND_FAST_ZERO,
  NBD_FLAG_SEND_FLUSH, NBD_FLAG_SEND_FUA, NBD_FLAG_SEND_TRIM, NBD_FLAG_SEND_WRITE_ZEROES,
} from '@tsemu/block-nbd';

export interface NbdExportSpec {
  name: string;
  description?: string;
  backend: BlockBackend;
  /** Export read-only even if the backend is writable (-r). */
  readOnly?: boolean;
  /** Several clients may connect at once (-e N > 1): advertise multi-conn as qemu-nbd does. */
  multiConn?: boolean;
  /** -A: offer the qemu:allocation-depth metadata context. */
  allocationDepth?: boolean;
  /** -B: dirty bitmaps offered as qemu:dirty-bitmap:NAME, in this order. */
  bitmaps?: ExportedBitmap[];
}

/** A dirty bitmap behind a qemu:dirty-bitmap context: its live bits (writes keep marking them). */
export interface ExportedBitmap {
  name: string;
  granularity: number;
  bits(): Uint8Array;
}

export class NbdExport {
  readonly name: string;
  readonly description: string;
  readonly backend: BlockBackend;
  readonly readOnly: boolean;
  /** qemu:allocation-depth is offered (-A). */
  readonly allocationDepth: boolean;
  readonly bitmaps: readonly ExportedBitmap[];
  /** Transmission flags without DF (DF depends on each client's structured-reply negotiation). */
  readonly flags: number;
  size: number;
  /** Recent block-status answers, shared by every client of this export (writes clear it). */
  readonly status: StatusCache;

  constructor(spec: NbdExportSpec, size: number) {
    this.status = new StatusCache(spec.backend, () => this.size);
    this.name = spec.name;
    this.description = spec.description ?? '';
    this.backend = spec.backend;
    this.readOnly = spec.readOnly === true || spec.backend.readOnly;
    this.allocationDepth = spec.allocationDepth === true;
    this.bitmaps = spec.bitmaps ?? [];
    this.size = size;
    let flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_CACHE;
    if (this.readOnly) flags |= NBD_FLAG_READ_ONLY;
    else flags |= NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
    if (spec.multiConn) flags |= NBD_FLAG_CAN_MULTI_CONN;
    this.flags = flags;
  }

  static async create(spec: NbdExportSpec): Promise<NbdExport> {
    return new NbdExport(spec, await spec.backend.getLength());
  }
}
