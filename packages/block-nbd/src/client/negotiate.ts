// Client side of fixed newstyle negotiation: STRUCTURED_REPLY, then
// SET_META_CONTEXT base:allocation, then GO (falling back to EXPORT_NAME for
// servers that predate GO); and LIST + INFO + LIST_META_CONTEXT for -L.
import { BlockError } from '@tsemu/block-core';
import {
  BASE_ALLOCATION, NBD_FLAG_C_FIXED_NEWSTYLE, NBD_FLAG_C_NO_ZEROES, NBD_FLAG_NO_ZEROES, NbdInfo, NbdOption,
  NbdOptionReply, isOptionReplyError,
} from '../constants.js';
import { NbdOptionReplyParser, readExportNameReply, readGreeting, type NbdOptionReplyMessage } from '../handshake-parsers.js';
import {
  decodeInfoReply, decodeMetaContextReply, decodeServerReply, encodeInfoRequest, encodeMetaContextRequest, encodeOption,
  type NbdExportInfo,
} from '../option-codec.js';
import { NbdProtocolError } from '../wire.js';
import type { HandshakeChannel } from './channel.js';
import { startClientTls, type NbdClientTls } from './tls.js';

export interface NegotiatedExport {
  info: NbdExportInfo;
  structured: boolean;
  /** Context id of base:allocation, or -1 when not negotiated. */
  allocationContext: number;
}


class OptionSession {
  private readonly parser = new NbdOptionReplyParser();
  noZeroes = false;

  constructor(readonly ch: HandshakeChannel) {}

  async greet(tls?: NbdClientTls): Promise<void> {
    const flags = await this.ch.until(readGreeting);
    this.noZeroes = (flags & NBD_FLAG_NO_ZEROES) !== 0;
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, NBD_FLAG_C_FIXED_NEWSTYLE | (this.noZeroes ? NBD_FLAG_C_NO_ZEROES : 0));
    this.ch.send(out);
    if (tls) {
      this.send(NbdOption.STARTTLS);
      const r = await this.reply(NbdOption.STARTTLS);
      if (r.type !== NbdOptionReply.ACK) throw optionError(r, 'Starting TLS');
      this.ch.upgrade(await startClientTls(this.ch.socket, tls));
    }
  }

  send(option: number, data?: Uint8Array): void {
    this.ch.send(encodeOption(option, data));
  }

  async reply(option: number): Promise<NbdOptionReplyMessage> {
    const r = await this.ch.until((q) => this.parser.next(q));
    if (r.option !== option) throw new NbdProtocolError(`Unexpected option in reply: expected ${option}, got ${r.option}`);
    return r;
  }
}


// QEMU's names for options in its client messages ("option 7 (go)").
const OPTION_NAMES: Record<number, string> = {
  1: 'export name', 2: 'abort', 3: 'list', 4: 'peek export', 5: 'starttls', 6: 'info', 7: 'go',
  8: 'structured reply', 9: 'list meta context', 10: 'set meta context',
};

/** An error reply in qemu-img/qemu-io 7.2's words: the reason, a hint, then what the server said. */
function optionError(r: NbdOptionReplyMessage, what: string): BlockError {
  const msg = r.data.byteLength > 0 ? new TextDecoder().decode(r.data) : '';
  const reported = msg ? `\nserver reported: ${msg}` : '';
  const option = `option ${r.option} (${OPTION_NAMES[r.option] ?? '<unknown>'})`;
  switch (r.type) {
    case NbdOptionReply.ERR_UNKNOWN:
      return new BlockError('ENOENT', `Requested export not available${reported}`);
    case NbdOptionReply.ERR_TLS_REQD:
      return new BlockError('EPERM', `TLS negotiation required before ${option}\nDid you forget a valid tls-creds?${reported}`);
    case NbdOptionReply.ERR_POLICY:
      return new BlockError('EPERM', `Denied by server for ${option}${reported}`);
    case NbdOptionReply.ERR_SHUTDOWN:
      return new BlockError('ESHUTDOWN', 'Server shutting down');
    default:
      return new BlockError('EINVAL', `${what} failed${msg ? `: ${msg}` : ''} (reply type 0x${r.type.toString(16)})`);
  }
}

/** Negotiates one export for transmission. */
export async function negotiateExport(ch: HandshakeChannel, exportName: string, tls?: NbdClientTls): Promise<NegotiatedExport> {
  const s = new OptionSession(ch);
  await s.greet(tls);
  let structured = false;
  let allocationContext = -1;
  s.send(NbdOption.STRUCTURED_REPLY);
  const sr = await s.reply(NbdOption.STRUCTURED_REPLY);
  if (sr.type === NbdOptionReply.ACK) structured = true;
  else if (!isOptionReplyError(sr.type)) throw new NbdProtocolError('Unexpected reply to structured reply option');

  if (structured) {
    s.send(NbdOption.SET_META_CONTEXT, encodeMetaContextRequest({ name: exportName, queries: [BASE_ALLOCATION] }));
    for (;;) {
      const r = await s.reply(NbdOption.SET_META_CONTEXT);
      if (r.type === NbdOptionReply.META_CONTEXT) {
        const ctx = decodeMetaContextReply(r.data);
        if (ctx.name === BASE_ALLOCATION) allocationContext = ctx.id;
        continue;
      }
      if (isOptionReplyError(r.type) && r.type !== NbdOptionReply.ERR_UNSUP && r.type !== NbdOptionReply.ERR_INVALID) {
        throw optionError(r, 'Setting meta context');
      }
      break;
    }
  }

  const info: NbdExportInfo = { name: exportName, size: -1, flags: 0 };
  s.send(NbdOption.GO, encodeInfoRequest({ name: exportName, requests: [NbdInfo.BLOCK_SIZE] }));
  for (;;) {
    const r = await s.reply(NbdOption.GO);
    if (r.type === NbdOptionReply.INFO) {
      decodeInfoReply(r.data, info);
      continue;
    }
    if (r.type === NbdOptionReply.ACK) break;
    if (r.type === NbdOptionReply.ERR_UNSUP) {
      // A server without GO: the old way, which never reports failure politely.
      ch.send(encodeOption(NbdOption.EXPORT_NAME, new TextEncoder().encode(exportName)));
      const reply = await ch.until((q) => readExportNameReply(q, s.noZeroes));
      info.size = reply.size;
      info.flags = reply.flags;
      return { info, structured, allocationContext };
    }
    throw optionError(r, 'Negotiating export');
  }
  if (info.size < 0 || !Number.isSafeInteger(info.size)) throw new NbdProtocolError('Server did not report the export size');
  return { info, structured, allocationContext };
}

export interface ListedExport extends NbdExportInfo {
  contexts: string[];
}

/** LIST, then INFO and LIST_META_CONTEXT for each export, then ABORT (qemu-nbd -L). */
export async function listServerExports(ch: HandshakeChannel, tls?: NbdClientTls): Promise<ListedExport[]> {
  const s = new OptionSession(ch);
  await s.greet(tls);
  s.send(NbdOption.LIST);
  const names: { name: string; description: string }[] = [];
  for (;;) {
    const r = await s.reply(NbdOption.LIST);
    if (r.type === NbdOptionReply.SERVER) names.push(decodeServerReply(r.data));
    else if (r.type === NbdOptionReply.ACK) break;
    else throw optionError(r, 'Listing exports');
  }
  s.send(NbdOption.STRUCTURED_REPLY);
  const structured = (await s.reply(NbdOption.STRUCTURED_REPLY)).type === NbdOptionReply.ACK;
  const out: ListedExport[] = [];
  for (const { name, description } of names) {
    const info: ListedExport = { name, description, size: 0, flags: 0, contexts: [] };
    s.send(NbdOption.INFO, encodeInfoRequest({ name, requests: [NbdInfo.NAME, NbdInfo.DESCRIPTION, NbdInfo.BLOCK_SIZE] }));
    for (;;) {
      const r = await s.reply(NbdOption.INFO);
      if (r.type === NbdOptionReply.INFO) decodeInfoReply(r.data, info);
      else if (r.type === NbdOptionReply.ACK) break;
      else throw optionError(r, 'Querying export');
    }
    info.name = name;
    if (structured) {
      s.send(NbdOption.LIST_META_CONTEXT, encodeMetaContextRequest({ name, queries: [] }));
      for (;;) {
        const r = await s.reply(NbdOption.LIST_META_CONTEXT);
        if (r.type === NbdOptionReply.META_CONTEXT) info.contexts.push(decodeMetaContextReply(r.data).name);
        else break;
      }
    }
    out.push(info);
  }
  s.send(NbdOption.ABORT);
  // The server may ACK the abort or just close; either is fine.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([s.reply(NbdOption.ABORT).catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 200)))]);
  clearTimeout(timer);
  return out;
}
