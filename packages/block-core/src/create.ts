// Image creation (qemu-img create): validates -o options against the
// driver's createOptions, builds QEMU's "Formatting ..." line, and gives the
// driver a way to create and open the protocol file underneath.
import type { BlockDriver, CreateOptionSpec, SecretLookup } from './driver.js';
import type { BlockNode } from './node.js';
import { BlockError } from './errors.js';
import { parseSizeOption } from './options.js';
import { parseCNumber } from './util/c-number.js';
import { formatOptionValue } from './util/option-string.js';
import { findDriver, findProtocolDriver } from './registry.js';
import { openProtocolNode } from './open.js';

export interface CreateSpec {
  filename: string;
  format: string;
  size: number;
  options?: Record<string, string>;
  /** The tool's `secret` objects, for key-secret options (qcow2's encrypt.key-secret). */
  secret?: SecretLookup;
}

/**
 * What `-o` takes for a format: its own options, then those of the protocol
 * driver under it that it does not list itself (QEMU appends the protocol's
 * list, e.g. the file driver's preallocation under raw).
 */
export function createOptionsFor(driver: BlockDriver, filename: string): CreateOptionSpec[] {
  const list = [...(driver.createOptions ?? [])];
  if (driver.kind !== 'format') return list;
  const proto = findProtocolDriver(filename) ?? findDriver('file');
  for (const o of proto?.createOptions ?? []) if (!list.some((x) => x.name === o.name)) list.push(o);
  return list;
}

/** QEMU prints sizes in bytes and everything else as given, in option order (the format's, then the protocol's). */
export function formattingLine(driver: BlockDriver, spec: CreateSpec): string {
  const opts = spec.options ?? {};
  let line = `Formatting '${spec.filename}', fmt=${spec.format}`;
  for (const o of createOptionsFor(driver, spec.filename)) {
    let value = o.name === 'size' ? String(spec.size) : opts[o.name] ?? o.default;
    if (value === undefined) continue;
    if (o.type === 'size' && o.name !== 'size') value = String(parseSizeOption(o.name, value, 0));
    if (o.type === 'number') value = normalizedNumber(value);
    // QemuOpts prints a string value with its commas doubled (json: backing file names).
    if (o.type === 'string') value = formatOptionValue(value);
    line += ` ${o.name}=${value}`;
  }
  return line;
}

/** A number option as QEMU prints it: the unsigned 64-bit value read, shown as int64 (text it cannot read, as given). */
export function normalizedNumber(text: string): string {
  const n = parseCNumber(text);
  return typeof n === 'bigint' ? BigInt.asIntN(64, n).toString() : text;
}

function protocolDriverFor(filename: string): BlockDriver {
  const d = findProtocolDriver(filename) ?? findDriver('file');
  if (!d) throw new BlockError('ENOTSUP', 'Protocol driver not found');
  return d;
}

async function createFile(filename: string, size: number, fileOptions: Record<string, string>): Promise<void> {
  const proto = protocolDriverFor(filename);
  if (!proto.create) throw new BlockError('ENOTSUP', `Protocol driver '${proto.name}' does not support image creation`);
  const protoKnown = new Set((proto.createOptions ?? []).map((o) => o.name));
  const passed: Record<string, string> = {};
  for (const [k, v] of Object.entries(fileOptions)) if (protoKnown.has(k)) passed[k] = v;
  await proto.create({ filename, size, options: passed, createFile, openFile });
}

function openFile(filename: string): Promise<BlockNode> {
  return openProtocolNode(filename);
}

/** Creates the image and returns the "Formatting ..." line (the tool prints it). */
export async function createImage(spec: CreateSpec): Promise<string> {
  const driver = findDriver(spec.format);
  if (!driver) throw new BlockError('EINVAL', `Unknown file format '${spec.format}'`);
  if (!driver.create) throw new BlockError('ENOTSUP', `Format driver '${spec.format}' does not support image creation`);
  const options = spec.options ?? {};
  const known = new Set(createOptionsFor(driver, spec.filename).map((o) => o.name));
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new BlockError('EINVAL', `Invalid parameter '${key}'`);
  }
  if (!Number.isSafeInteger(spec.size) || spec.size < 0) throw new BlockError('EINVAL', 'Invalid image size specified');
  const line = formattingLine(driver, spec);
  await driver.create({ filename: spec.filename, size: spec.size, options, createFile, openFile, secret: spec.secret });
  return line;
}
