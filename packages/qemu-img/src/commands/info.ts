// qemu-img info: virtual size, disk size and driver details, human or JSON.
import { sizeToStr } from '@tsemu/block-core';
import type { BlockNode } from '@tsemu/block-core';
import { getopt, UsageError } from '../getopt.js';
import { closeQuietly, open } from '../image.js';
import { CommandError, HelpRequested, type Context } from '../io.js';
import { prettyJson } from '../json.js';
import { parseOutputFormat, type OutputFormat } from '../options.js';
import { formatSnapshotList, snapshotFromJson, snapshotJson, snapshotNode } from '../snapshot-table.js';
import type { SubCommand } from './command.js';
import { defineObject } from '../objects.js';

/** ImageInfo in QEMU's field order (the order qemu-img 7.2 prints). */
export interface ImageInfo {
  snapshots?: Record<string, unknown>[];
  'backing-filename-format'?: string;
  'virtual-size': number;
  filename: string;
  'cluster-size'?: number;
  format: string;
  'actual-size'?: number;
  'format-specific'?: { type: string; data: Record<string, unknown> };
  'full-backing-filename'?: string;
  encrypted?: boolean;
  'backing-filename'?: string;
  'dirty-flag'?: boolean;
}

/** Info of one node of the chain; `virtualSize` from the backend for the top node. */
export async function collectInfo(node: BlockNode, filename: string, virtualSize?: number): Promise<ImageInfo> {
  const info = node.info();
  const actual = await node.allocatedFileSize();
  const backing = node.backing;
  const out: ImageInfo = {} as ImageInfo;
  // The header's strings where the format records them; else the opened backing node.
  const backingName = node.backingFile ?? backing?.filename;
  const backingFormat = node.backingFormat ?? backing?.driver.name;
  if (backingName !== undefined && backingFormat !== undefined) out['backing-filename-format'] = backingFormat;
  const snapState = snapshotNode(node).state;
  const snapshots = snapState.listSnapshots ? await snapState.listSnapshots() : [];
  if (snapshots.length > 0) out.snapshots = snapshots.map(snapshotJson);
  out['virtual-size'] = virtualSize ?? (await node.getLength());
  out.filename = filename;
  if (info.clusterSize) out['cluster-size'] = info.clusterSize;
  out.format = node.driver.name;
  if (actual !== undefined) out['actual-size'] = actual;
  if (info.formatSpecific) out['format-specific'] = info.formatSpecific;
  // Relative to the image's file, also when the image is shown as json:{...} (QEMU's bdrv_dirname).
  if (backingName !== undefined) out['full-backing-filename'] = fullBackingName(node.filename || filename, backingName);
  if (info.encrypted) out.encrypted = true;
  if (backingName !== undefined) out['backing-filename'] = backingName;
  if (info.dirty !== undefined || answersGetInfo(node)) out['dirty-flag'] = info.dirty ?? false;
  return out;
}

/** QEMU's path_combine: a relative backing name is relative to the image's directory. */
function fullBackingName(image: string, backing: string): string {
  if (backing.startsWith('/') || /^[a-z+]+:/.test(backing)) return backing;
  const slash = image.lastIndexOf('/');
  return slash < 0 ? backing : image.slice(0, slash + 1) + backing;
}

/**
 * QEMU prints the dirty flag only when the driver answers get_info: host
 * files do (raw passes the question down to its file, a filter such as
 * blkdebug to its image), null-co and nbd do not. block-core's DriverInfo
 * has no such signal, so decide by driver.
 */
function answersGetInfo(node: BlockNode): boolean {
  if (node.driver.name === 'file') return true;
  const below = node.driver.name === 'raw' ? node.file : node.driver.kind === 'filter' ? node.children.get('image') : undefined;
  return below !== undefined && answersGetInfo(below);
}

/**
 * The image and, with --backing-chain, every backing image below it. As QEMU,
 * each image is opened on its own without its backing file, so a chain that
 * loops back is reported instead of followed.
 */
export async function collectChain(
  ctx: Context, first: { filename: string; format?: string; imageOpts: boolean; forceShare: boolean }, wholeChain: boolean,
): Promise<ImageInfo[]> {
  const list: ImageInfo[] = [];
  const seen = new Set<string>();
  let req: { filename: string; format?: string; imageOpts: boolean } | undefined = first;
  while (req) {
    if (seen.has(req.filename)) throw new CommandError(`Backing file '${req.filename}' creates an infinite loop.`);
    seen.add(req.filename);
    const blk = await open(ctx, { ...req, readOnly: true, forceShare: first.forceShare, noBacking: true, noIo: true });
    try {
      // The node's refreshed name, as QEMU shows it (canonical for protocols such as nbd).
      const shown = blk.info().filename;
      const info = await collectInfo(blk.root, shown, await blk.getLength());
      list.push(info);
      const next = info['full-backing-filename'];
      req = wholeChain && next !== undefined ? { filename: next, format: info['backing-filename-format'], imageOpts: false } : undefined;
    } finally {
      await closeQuietly(blk);
    }
  }
  return list;
}

export function formatInfoHuman(info: ImageInfo): string {
  const snapshotList = info.snapshots ? formatSnapshotList(info.snapshots.map(snapshotFromJson)) : '';
  const lines = [
    `image: ${info.filename}`,
    `file format: ${info.format}`,
    `virtual size: ${sizeToStr(info['virtual-size'])} (${info['virtual-size']} bytes)`,
    `disk size: ${info['actual-size'] === undefined ? 'unavailable' : sizeToStr(info['actual-size'])}`,
  ];
  if (info.encrypted) lines.push('encrypted: yes');
  if (info['cluster-size'] !== undefined) lines.push(`cluster_size: ${info['cluster-size']}`);
  if (info['dirty-flag']) lines.push('cleanly shut down: no');
  const backing = info['backing-filename'];
  if (backing !== undefined) {
    const full = info['full-backing-filename'];
    lines.push(`backing file: ${backing}${full !== undefined && full !== backing ? ` (actual path: ${full})` : ''}`);
    if (info['backing-filename-format']) lines.push(`backing file format: ${info['backing-filename-format']}`);
  }
  if (snapshotList) lines.push(snapshotList.replace(/\n+$/, '')); // keep a row's trailing blanks (empty ICOUNT)
  const specific = info['format-specific'];
  if (specific) {
    lines.push('Format specific information:');
    appendTree(lines, specific.data, 1);
  }
  return `${lines.join('\n')}\n`;
}

/** QEMU prints nested info as "key: value" with dashes turned into spaces, list items as "[i]". */
function appendTree(lines: string[], data: Record<string, unknown>, depth: number): void {
  const pad = '    '.repeat(depth);
  const list = Array.isArray(data);
  for (const [key, value] of Object.entries(data)) {
    const label = list ? `[${key}]` : key.replaceAll('-', ' ');
    if (value !== null && typeof value === 'object') {
      lines.push(`${pad}${label}:`);
      appendTree(lines, value as Record<string, unknown>, depth + 1);
    } else {
      lines.push(`${pad}${label}: ${String(value)}`);
    }
  }
}

async function run(ctx: Context, args: string[]): Promise<number> {
  const { options, operands } = getopt('info', args, {
    short: ':f:hU',
    long: [
      { name: 'help', arg: 'none', key: 'h' },
      { name: 'format', arg: 'required', key: 'f' },
      { name: 'output', arg: 'required', key: 'output' },
      { name: 'backing-chain', arg: 'none', key: 'backing-chain' },
      { name: 'object', arg: 'required', key: 'object' },
      { name: 'image-opts', arg: 'none', key: 'image-opts' },
      { name: 'force-share', arg: 'none', key: 'U' },
    ],
  });
  let format: string | undefined;
  let output = 'human';
  let chain = false;
  let imageOpts = false;
  let forceShare = false;
  for (const o of options) {
    if (o.key === 'h') throw new HelpRequested();
    if (o.key === 'object') {
      defineObject(o.arg!);
      continue;
    }
    if (o.key === 'f') format = o.arg;
    else if (o.key === 'output') output = o.arg!;
    else if (o.key === 'backing-chain') chain = true;
    else if (o.key === 'image-opts') imageOpts = true;
    else if (o.key === 'U') forceShare = true;
  }
  if (operands.length !== 1) throw new UsageError('Expecting one image file name');
  const fmt: OutputFormat = parseOutputFormat(output);
  const filename = operands[0]!;
  const infos = await collectChain(ctx, { filename, format, imageOpts, forceShare }, chain);
  if (fmt === 'json') ctx.out(prettyJson(chain ? infos : infos[0]));
  else ctx.out(infos.map((i) => formatInfoHuman(i)).join('\n'));
  return 0;
}

export const infoCommand: SubCommand = {
  name: 'info',
  syntax: 'info [--object objectdef] [--image-opts] [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename',
  run,
};
