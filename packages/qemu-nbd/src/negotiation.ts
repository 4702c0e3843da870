// Server side of fixed newstyle negotiation. Every option is answered
// synchronously from the export table, so this is a plain function of
// (state, option) -> replies; the connection feeds it parsed options.
import {
  BASE_ALLOCATION, NBD_FLAG_SEND_DF, NBD_MAX_PAYLOAD, NbdInfo, NbdInvalidOption, NbdOption, NbdOptionReply,
  decodeInfoRequest, decodeMetaContextRequest, encodeExportNameReply, encodeInfoBlockSize, encodeInfoDescription,
  encodeInfoExport, encodeInfoName, encodeMetaContextReply, encodeOptionReply, encodeServerReply,
} from '@tsemu/block-nbd';
import type { NbdExport } from './export.js';

/** The metadata contexts offered and their ids on the wire (qemu-nbd's numbering). */
export const BASE_ALLOCATION_ID = 0;
export const ALLOCATION_DEPTH = 'qemu:allocation-depth';
export const ALLOCATION_DEPTH_ID = 1;
/** qemu:dirty-bitmap:NAME contexts: ids from 2 on, in the export's -B order. */
export const DIRTY_BITMAP = 'qemu:dirty-bitmap:';
export const DIRTY_BITMAP_ID = 2;

const encoder = new TextEncoder();

export interface NegotiationState {
  noZeroes: boolean;
  /** The server has TLS credentials: nothing but STARTTLS/ABORT until TLS is up. */
  tlsConfigured: boolean;
  tlsActive: boolean;
  structured: boolean;
  /** base:allocation selected by SET_META_CONTEXT for `metaExport`. */
  allocation: boolean;
  /** qemu:allocation-depth selected by SET_META_CONTEXT for `metaExport`. */
  allocationDepth: boolean;
  /** Indexes into the export's bitmaps selected by SET_META_CONTEXT (undefined: none). */
  bitmaps?: number[];
  metaExport: string | null;
}

export type NegotiationOutcome =
  /** Keep negotiating. */
  | { next: 'continue' }
  /** Enter transmission on this export. */
  | { next: 'transmit'; export: NbdExport }
  /** Close the connection (after flushing `replies`). */
  | { next: 'close' }
  /** Send `replies`, then run the TLS handshake on this connection. */
  | { next: 'starttls' };

export interface NegotiationStep {
  replies: Uint8Array[];
  outcome: NegotiationOutcome;
}

function err(option: number, type: number, message: string): Uint8Array {
  return encodeOptionReply(option, type, encoder.encode(message));
}

function optionName(option: number): string {
  const names: Record<number, string> = {
    1: 'NBD_OPT_EXPORT_NAME', 2: 'NBD_OPT_ABORT', 3: 'NBD_OPT_LIST', 5: 'NBD_OPT_STARTTLS', 6: 'NBD_OPT_INFO',
    7: 'NBD_OPT_GO', 8: 'NBD_OPT_STRUCTURED_REPLY', 9: 'NBD_OPT_LIST_META_CONTEXT', 10: 'NBD_OPT_SET_META_CONTEXT',
  };
  return names[option] ?? `<unknown>`;
}

/** Transmission flags for this client: DF only once structured replies are on. */
export function clientFlags(exp: NbdExport, state: NegotiationState): number {
  return state.structured ? exp.flags | NBD_FLAG_SEND_DF : exp.flags;
}

export function negotiate(
  exports: ReadonlyMap<string, NbdExport>, state: NegotiationState, option: number, data: Uint8Array,
): NegotiationStep {
  const replies: Uint8Array[] = [];
  const cont: NegotiationOutcome = { next: 'continue' };
  if (state.tlsConfigured && !state.tlsActive) return beforeTls(option);
  try {
    switch (option) {
      case NbdOption.EXPORT_NAME: {
        const exp = exports.get(new TextDecoder().decode(data));
        // This option has no error reply: an unknown name just ends the connection.
        if (!exp) return { replies, outcome: { next: 'close' } };
        replies.push(encodeExportNameReply(exp.size, clientFlags(exp, state), state.noZeroes));
        return { replies, outcome: { next: 'transmit', export: exp } };
      }
      case NbdOption.ABORT:
        replies.push(encodeOptionReply(option, NbdOptionReply.ACK));
        return { replies, outcome: { next: 'close' } };
      case NbdOption.LIST:
        if (data.byteLength !== 0) {
          replies.push(err(option, NbdOptionReply.ERR_INVALID, 'NBD_OPT_LIST should not have length'));
          return { replies, outcome: cont };
        }
        for (const exp of exports.values()) {
          replies.push(encodeOptionReply(option, NbdOptionReply.SERVER, encodeServerReply(exp.name, exp.description)));
        }
        replies.push(encodeOptionReply(option, NbdOptionReply.ACK));
        return { replies, outcome: cont };
      case NbdOption.STARTTLS:
        if (data.byteLength !== 0) replies.push(err(option, NbdOptionReply.ERR_INVALID, 'NBD_OPT_STARTTLS should not have length'));
        else if (state.tlsActive) replies.push(err(option, NbdOptionReply.ERR_INVALID, 'TLS already enabled'));
        else replies.push(err(option, NbdOptionReply.ERR_POLICY, 'TLS not configured'));
        return { replies, outcome: cont };
      case NbdOption.INFO:
      case NbdOption.GO:
        return infoOrGo(exports, state, option, data);
      case NbdOption.STRUCTURED_REPLY:
        if (data.byteLength !== 0) {
          replies.push(err(option, NbdOptionReply.ERR_INVALID, 'option \'NBD_OPT_STRUCTURED_REPLY\' should have zero length'));
        } else if (state.structured) {
          replies.push(err(option, NbdOptionReply.ERR_INVALID, 'structured reply already negotiated'));
        } else {
          state.structured = true;
          replies.push(encodeOptionReply(option, NbdOptionReply.ACK));
        }
        return { replies, outcome: cont };
      case NbdOption.LIST_META_CONTEXT:
      case NbdOption.SET_META_CONTEXT:
        return metaContext(exports, state, option, data);
      default:
        replies.push(err(option, NbdOptionReply.ERR_UNSUP, `Unsupported option ${option} (${optionName(option)})`));
        return { replies, outcome: cont };
    }
  } catch (e) {
    if (e instanceof NbdInvalidOption) {
      replies.length = 0;
      replies.push(err(option, NbdOptionReply.ERR_INVALID, e.message));
      return { replies, outcome: cont };
    }
    throw e;
  }
}

/** With TLS configured, the plaintext phase allows only STARTTLS and ABORT (as qemu-nbd). */
function beforeTls(option: number): NegotiationStep {
  switch (option) {
    case NbdOption.STARTTLS:
      return { replies: [encodeOptionReply(option, NbdOptionReply.ACK)], outcome: { next: 'starttls' } };
    case NbdOption.ABORT:
      return { replies: [encodeOptionReply(option, NbdOptionReply.ACK)], outcome: { next: 'close' } };
    case NbdOption.EXPORT_NAME:
      return { replies: [], outcome: { next: 'close' } };
    default:
      return {
        replies: [err(option, NbdOptionReply.ERR_TLS_REQD, `Option 0x${option.toString(16)} not permitted before TLS`)],
        outcome: { next: 'continue' },
      };
  }
}

function infoOrGo(exports: ReadonlyMap<string, NbdExport>, state: NegotiationState, option: number, data: Uint8Array): NegotiationStep {
  const replies: Uint8Array[] = [];
  const req = decodeInfoRequest(data);
  const exp = exports.get(req.name);
  if (!exp) {
    replies.push(err(option, NbdOptionReply.ERR_UNKNOWN, `export '${req.name}' not present`));
    return { replies, outcome: { next: 'continue' } };
  }
  if (req.requests.includes(NbdInfo.NAME)) replies.push(encodeOptionReply(option, NbdOptionReply.INFO, encodeInfoName(exp.name)));
  if (req.requests.includes(NbdInfo.DESCRIPTION) && exp.description !== '') {
    replies.push(encodeOptionReply(option, NbdOptionReply.INFO, encodeInfoDescription(exp.description)));
  }
  // Block sizes are always sent, as qemu-nbd does: any byte granularity, 4 KiB preferred, 32 MiB max.
  replies.push(encodeOptionReply(option, NbdOptionReply.INFO, encodeInfoBlockSize(1, 4096, NBD_MAX_PAYLOAD)));
  replies.push(encodeOptionReply(option, NbdOptionReply.INFO, encodeInfoExport(exp.size, clientFlags(exp, state))));
  replies.push(encodeOptionReply(option, NbdOptionReply.ACK));
  if (option === NbdOption.GO) return { replies, outcome: { next: 'transmit', export: exp } };
  return { replies, outcome: { next: 'continue' } };
}

function metaContext(exports: ReadonlyMap<string, NbdExport>, state: NegotiationState, option: number, data: Uint8Array): NegotiationStep {
  const replies: Uint8Array[] = [];
  const cont: NegotiationOutcome = { next: 'continue' };
  if (!state.structured) {
    replies.push(err(option, NbdOptionReply.ERR_INVALID, `request option '${optionName(option)}' when structured reply is not negotiated`));
    return { replies, outcome: cont };
  }
  const req = decodeMetaContextRequest(data);
  const exp = exports.get(req.name);
  if (!exp) {
    replies.push(err(option, NbdOptionReply.ERR_UNKNOWN, `export '${req.name}' not present`));
    return { replies, outcome: cont };
  }
  const listing = option === NbdOption.LIST_META_CONTEXT;
  let base = false;
  let depth = false;
  const bitmaps = new Set<number>();
  if (listing && req.queries.length === 0) {
    base = true;
    depth = exp.allocationDepth;
    exp.bitmaps.forEach((_, i) => bitmaps.add(i));
  } else {
    for (const q of req.queries) {
      // "base:" / "qemu:" / "qemu:dirty-bitmap:" list every context under them (LIST only); an exact name selects.
      if (q === BASE_ALLOCATION || (listing && q === 'base:')) base = true;
      if (exp.allocationDepth && (q === ALLOCATION_DEPTH || (listing && q === 'qemu:'))) depth = true;
      exp.bitmaps.forEach((b, i) => {
        if (q === DIRTY_BITMAP + b.name || (listing && (q === 'qemu:' || q === DIRTY_BITMAP))) bitmaps.add(i);
      });
    }
  }
  // Replies come in qemu-nbd's fixed order, whatever the order of the queries.
  if (base) replies.push(encodeOptionReply(option, NbdOptionReply.META_CONTEXT, encodeMetaContextReply(BASE_ALLOCATION_ID, BASE_ALLOCATION)));
  // A LIST reply's id means nothing; qemu-nbd sends 0 there.
  if (depth) replies.push(encodeOptionReply(option, NbdOptionReply.META_CONTEXT, encodeMetaContextReply(listing ? 0 : ALLOCATION_DEPTH_ID, ALLOCATION_DEPTH)));
  const chosen = [...bitmaps].sort((a, b) => a - b);
  for (const i of chosen) {
    const id = listing ? 0 : DIRTY_BITMAP_ID + i;
    replies.push(encodeOptionReply(option, NbdOptionReply.META_CONTEXT, encodeMetaContextReply(id, DIRTY_BITMAP + exp.bitmaps[i]!.name)));
  }
  if (!listing) {
    state.allocation = base;
    state.allocationDepth = depth;
    state.bitmaps = chosen.length > 0 ? chosen : undefined;
    state.metaExport = req.name;
  }
  replies.push(encodeOptionReply(option, NbdOptionReply.ACK));
  return { replies, outcome: cont };
}
