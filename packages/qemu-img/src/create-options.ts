// Create options (-o) of a format and its protocol: the "-o help" listing,
// validation of option names, and the "Formatting ..." line qemu-img prints.
import { statSync } from 'node:fs';
import { findDriver, findProtocolDriver, formatOptionValue, normalizedNumber } from '@tsemu/block-core';
import type { BlockDriver, CreateOptionSpec } from '@tsemu/block-core';

const TYPE_LABEL: Record<CreateOptionSpec['type'], string> = {
  size: 'size',
  number: 'num',
  bool: 'bool (on/off)',
  string: 'str',
};

function helpLine(opt: CreateOptionSpec): string {
  return `  ${`${opt.name}=<${TYPE_LABEL[opt.type]}>`.padEnd(22)} - ${opt.help}`;
}

/** An option list as `-o help` prints it: sorted by name, one line each. */
export function optionLines(list: readonly CreateOptionSpec[]): string {
  return list.slice().sort(byName).map((o) => `${helpLine(o)}\n`).join('');
}

/** Format options first, then the protocol's ('file') ones not already listed. */
export function createOptionsOf(format: BlockDriver, withProtocol: boolean): CreateOptionSpec[] {
  const list = [...(format.createOptions ?? [])];
  if (withProtocol && format.kind === 'format') {
    for (const opt of findDriver('file')?.createOptions ?? []) {
      if (!list.some((o) => o.name === opt.name)) list.push(opt);
    }
  }
  return list;
}

/** What `-o help` prints: only the format's options without a filename, all of them sorted with one. */
export function optionHelpText(format: BlockDriver, filename: string | undefined): string {
  if (filename === undefined) {
    const own = (format.createOptions ?? []).slice();
    const lines = own.sort(byName).map(helpLine);
    return (
      `Supported ${format.name} options:\n${lines.map((l) => `${l}\n`).join('')}\n` +
      'The protocol level may support further options.\nSpecify the target filename to include those options.\n'
    );
  }
  let list = createOptionsOf(format, true);
  // Only file-posix has nocow and extent_size_hint: not a device path (QEMU's host_device), not nbd://.
  const proto = format.kind === 'format' ? findProtocolDriver(filename) ?? findDriver('file') : format;
  if (proto?.name !== 'file' || isDevice(filename)) list = list.filter((o) => !FILE_ONLY.has(o.name));
  const lines = list.sort(byName).map(helpLine);
  return `Supported options:\n${lines.map((l) => `${l}\n`).join('')}`;
}

function isDevice(filename: string): boolean {
  try {
    const st = statSync(filename);
    return st.isBlockDevice() || st.isCharacterDevice();
  } catch {
    return false;
  }
}

/** file-posix create options QEMU's host_device protocol does not have. */
const FILE_ONLY = new Set(['nocow', 'extent_size_hint']);

function byName(a: CreateOptionSpec, b: CreateOptionSpec): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** The first -o key neither the format nor its protocol accepts (drivers listing no options accept any). */
export function unknownOption(format: BlockDriver, options: Record<string, string>): string | undefined {
  if (!format.createOptions) return undefined;
  const known = createOptionsOf(format, true);
  return Object.keys(options).find((key) => key !== 'size' && !known.some((o) => o.name === key));
}

/**
 * The "Formatting 'x', fmt=raw size=N ..." line, built here only for the case
 * where creation fails after qemu-img would already have printed it.
 */
export function formattingLine(filename: string, format: BlockDriver, size: number, options: Record<string, string>): string {
  let line = `Formatting '${filename}', fmt=${format.name} size=${size}`;
  for (const opt of createOptionsOf(format, true)) {
    if (opt.name === 'size') continue;
    const value = options[opt.name] ?? opt.default;
    if (value !== undefined) line += ` ${opt.name}=${opt.type === 'number' ? normalizedNumber(value) : opt.type === 'string' ? formatOptionValue(value) : value}`;
  }
  return line;
}
