// qemu-img map: which guest ranges hold data, zeroes or nothing, and where
// the data lives in the file, as a table or one JSON object per line.
import type { BlockBackend, BlockNode, BlockStatus } from '@tsemu/block-core';
import { getopt, UsageError } from '../getopt.js';
import { asCommandError, closeQuietly, open } from '../image.js';
import { CommandError, HelpRequested, type Context } from '../io.js';
import { cvtnum, parseOutputFormat } from '../options.js';
import type { SubCommand } from './command.js';
import { defineObject } from '../objects.js';

export interface MapEntry {
  start: number;
  length: number;
  depth: number;
  present: boolean;
  zero: boolean;
  data: boolean;
  offset?: number;
  /** File the offset refers to (human output's last column). */
  file?: string;
  /** Data without a usable host offset (compressed/encrypted). */
  hidden?: boolean;
}

/** Status of [offset, offset+length) looked up through the backing chain. */
async function entryAt(blk: BlockBackend, offset: number, length: number, fallbackFile: string): Promise<MapEntry> {
  let node: BlockNode | undefined = blk.root;
  let depth = 0;
  let status: BlockStatus = await blk.blockStatus(offset, length);
  while (!status.allocated && node.backing) {
    // Past the end of a shorter backing file the range belongs to the layer above.
    if (offset >= (await node.backing.getLength())) {
      status = { ...status, zero: true };
      break;
    }
    node = node.backing;
    depth++;
    status = await node.blockStatus(offset, Math.min(length, status.length));
  }
  // Host holes under data read as zeroes only where the format asks its file (raw always; qcow2 when it
  // detects metadata preallocation): that is in the driver's block status, not here.
  const entry: MapEntry = {
    start: offset,
    length: Math.max(1, Math.min(status.length, length)),
    depth,
    present: status.allocated,
    zero: status.zero,
    data: status.data,
  };
  if (status.offset !== undefined && !status.compressed) {
    entry.offset = status.offset;
    entry.file = status.file?.filename ?? fallbackFile;
  } else if (status.data) {
    entry.hidden = true;
  }
  return entry;
}

/** Two neighbours print as one when everything but the position matches and host offsets run on. */
function mergeable(a: MapEntry, b: MapEntry): boolean {
  if (a.depth !== b.depth || a.present !== b.present || a.zero !== b.zero || a.data !== b.data) return false;
  if (a.file !== b.file || a.hidden !== b.hidden) return false;
  if ((a.offset === undefined) !== (b.offset === undefined)) return false;
  return a.offset === undefined || a.offset + a.length === b.offset;
}

export async function collectMap(blk: BlockBackend, start: number, end: number, filename: string): Promise<MapEntry[]> {
  const entries: MapEntry[] = [];
  let offset = start;
  while (offset < end) {
    const e = await entryAt(blk, offset, end - offset, filename);
    const last = entries[entries.length - 1];
    if (last && mergeable(last, e)) last.length += e.length;
    else entries.push(e);
    offset += e.length;
  }
  return entries;
}

export function formatMapJson(entries: MapEntry[]): string {
  const lines = entries.map((e) => {
    let text = `{ "start": ${e.start}, "length": ${e.length}, "depth": ${e.depth}, "present": ${e.present}, "zero": ${e.zero}, "data": ${e.data}`;
    if (e.offset !== undefined) text += `, "offset": ${e.offset}`;
    return `${text}}`;
  });
  return `[${lines.join(',\n')}]\n`;
}

/** C's "%#-16x": 0x-prefixed hex, except a plain 0. */
function hexColumn(n: number): string {
  return (n === 0 ? '0' : `0x${n.toString(16)}`).padEnd(16);
}

async function run(ctx: Context, args: string[]): Promise<number> {
  const { options, operands } = getopt('map', args, {
    short: ':f:hU',
    long: [
      { name: 'help', arg: 'none', key: 'h' },
      { name: 'format', arg: 'required', key: 'f' },
      { name: 'output', arg: 'required', key: 'output' },
      { name: 'object', arg: 'required', key: 'object' },
      { name: 'image-opts', arg: 'none', key: 'image-opts' },
      { name: 'force-share', arg: 'none', key: 'U' },
      { name: 'start-offset', arg: 'required', key: 's' },
      { name: 'max-length', arg: 'required', key: 'l' },
    ],
  });
  let format: string | undefined;
  let output = 'human';
  let imageOpts = false;
  let forceShare = false;
  let startOffset = 0;
  let maxLength: number | undefined;
  for (const o of options) {
    if (o.key === 'h') throw new HelpRequested();
    if (o.key === 'object') {
      defineObject(o.arg!);
      continue;
    }
    if (o.key === 'f') format = o.arg;
    else if (o.key === 'output') output = o.arg!;
    else if (o.key === 'image-opts') imageOpts = true;
    else if (o.key === 'U') forceShare = true;
    else if (o.key === 's') startOffset = cvtnum('start offset', o.arg!);
    else if (o.key === 'l') maxLength = cvtnum('max length', o.arg!);
  }
  if (operands.length !== 1) throw new UsageError('Expecting one image file name');
  const fmt = parseOutputFormat(output);
  const filename = operands[0]!;
  const blk = await open(ctx, { filename, format, readOnly: true, imageOpts, forceShare });
  try {
    const length = await blk.getLength();
    const end = maxLength === undefined ? length : Math.min(length, startOffset + maxLength);
    let entries: MapEntry[];
    try {
      entries = await collectMap(blk, Math.min(startOffset, length), end, filename);
    } catch (err) {
      throw asCommandError(err);
    }
    if (fmt === 'json') {
      ctx.out(formatMapJson(entries));
      return 0;
    }
    ctx.out('Offset          Length          Mapped to       File\n');
    for (const e of entries) {
      if (!e.data || e.zero) continue;
      if (e.hidden) throw new CommandError('File contains external, encrypted or compressed clusters.');
      ctx.out(`${hexColumn(e.start)}${hexColumn(e.length)}${hexColumn(e.offset!)}${e.file}\n`);
    }
  } finally {
    await closeQuietly(blk);
  }
  return 0;
}


export const mapCommand: SubCommand = {
  name: 'map',
  syntax: 'map [--object objectdef] [--image-opts] [-f fmt] [--start-offset=offset] [--max-length=len] [--output=ofmt] [-U] filename',
  run,
};
