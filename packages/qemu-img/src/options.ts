// Option values shared by several sub-commands, validated with qemu-img's messages.
import { parseCNumber, parseSize, sizeOptionError, type CreateOptionSpec } from '@tsemu/block-core';
import { CommandError } from './io.js';

export type OutputFormat = 'human' | 'json';

export function parseOutputFormat(text: string): OutputFormat {
  if (text === 'human' || text === 'json') return text;
  throw new CommandError('--output must be used with human or json as argument.');
}

const CACHE_NAMES = new Set(['none', 'off', 'writeback', 'writethrough', 'directsync', 'unsafe']);

/** -t (target) / -T (source) cache mode names; `off` is QEMU's alias for none. */
export function parseCache(text: string, source: boolean): string {
  if (!CACHE_NAMES.has(text)) {
    throw new CommandError(`Invalid ${source ? 'source ' : ''}cache option: ${text}`);
  }
  return text === 'off' ? 'none' : text;
}

const SIZE_HINT =
  'You may use k, M, G, T, P or E suffixes for\nqemu-img: kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.';

export const INT_MAX = 2 ** 31 - 1;
const INT64_MAX_TEXT = '9223372036854775807';

/**
 * qemu-img's cvtnum: a size with an optional suffix, between 0 and `max`
 * (INT64_MAX, or INT_MAX where qemu-img allocates that much); its two
 * complaints otherwise (a 2-line one for bad syntax).
 */
export function cvtnum(what: string, text: string, max?: number): number {
  let n: number;
  try {
    n = parseSize(text);
  } catch (err) {
    if (isRangeError(err)) throw new CommandError(`Invalid ${what} specified. Must be between 0 and ${max ?? INT64_MAX_TEXT}.`);
    throw new CommandError(`Invalid ${what} specified. ${SIZE_HINT}`);
  }
  if (max !== undefined && n > max) throw new CommandError(`Invalid ${what} specified. Must be between 0 and ${max}.`);
  return n;
}

/** The size operand of create (a 2-line complaint on bad syntax, as qemu-img prints it). */
export function parseImageSize(text: string): number {
  return cvtnum('image size', text);
}

/** -S for convert: a size that is a multiple of 512 and at most 16 MiB. */
export function parseSparseSize(text: string): number {
  let size: number;
  try {
    size = parseSize(text);
  } catch {
    throw new CommandError(`Invalid buffer size for sparse output specified. ${SIZE_HINT}`);
  }
  if (size % 512 !== 0 || size > 16 * 1024 * 1024) {
    throw new CommandError(
      'Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 up to 16777216. ' +
        'Select 0 to disable sparse detection (fully allocates output).',
    );
  }
  return size;
}

/** QemuOpts' complaint about a size parameter that is not a size. */
export function sizeParamHint(name: string): string {
  return sizeOptionError(name).message;
}

export const SIZE_PARAM_HINT = sizeParamHint('size');

/**
 * A size read as a QemuOpts 'size' parameter (resize's operand, -o size=...,
 * or another option of that type named `name`): unsigned 64-bit. Returns a
 * bigint so 2^63..2^64 can be told apart from junk.
 */
export function parseSizeParam(text: string, name = 'size'): bigint {
  try {
    return BigInt(parseSize(text));
  } catch (err) {
    if (!isRangeError(err)) throw new CommandError(sizeParamHint(name));
  }
  // parseSize stops at 2^63; QemuOpts accepts up to 2^64 - 1.
  const m = /^([0-9]+(?:\.[0-9]*)?)([kKmMgGtTpPeE]?)[bB]?$/.exec(text);
  const shift = m ? ' kmgtpe'.indexOf((m[2] || ' ').toLowerCase()) * 10 : 0;
  const value = m ? Number(m[1]) * 2 ** shift : Infinity;
  if (value >= 2 ** 64) throw new CommandError(`Value '${text}' is out of range for parameter '${name}'`);
  return BigInt(Math.floor(value));
}

/**
 * The exact value of a size that parseSize has already accepted, where a
 * double cannot hold it (above 2^53): the integer part times the suffix in
 * 64-bit integers, plus the fraction times the suffix truncated (as qemu's
 * strtosz adds them). Undefined for forms it does not cover.
 */
export function exactSize(text: string): bigint | undefined {
  const m = /^([0-9]+)(?:(\.[0-9]*))?([kKmMgGtTpPeEbB]?)$/.exec(text.trim());
  if (!m) return undefined;
  const shift = Math.max(0, ' kmgtpe'.indexOf((m[3] || ' ').toLowerCase())) * 10;
  const mul = 2 ** shift;
  const fraction = m[2] !== undefined ? Number(`0${m[2]}`) : 0;
  return BigInt(m[1]!) * BigInt(mul) + BigInt(Math.trunc(fraction * mul));
}

function isRangeError(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === 'ERANGE';
}

/** Appends -o arguments the way qemu-img does when -o is repeated. */
export function joinOptions(previous: string | undefined, next: string): string {
  return previous === undefined ? next : `${previous},${next}`;
}

/** "-o help" / "-o ?" anywhere in the list asks for the option list. */
export function wantsOptionHelp(options: string | undefined): boolean {
  if (options === undefined) return false;
  return options.split(',').some((part) => part === 'help' || part === '?');
}

/**
 * QEMU's number options (qemu_strtou64, base 0): refused before anything
 * happens (also by create); returns the value as QEMU prints it (%PRId64).
 */
export function checkNumber(name: string, v: string): string {
  const n = parseCNumber(v);
  if (n === 'invalid') throw new CommandError(`Parameter '${name}' expects a number`);
  if (n === 'range') throw new CommandError(`Value '${v}' is too large for parameter '${name}'`);
  return BigInt.asIntN(64, n).toString();
}

/** QEMU's booleans as QemuOpts parse them (case matters). */
const QEMU_BOOLS = new Set(['on', 'off', 'yes', 'no', 'true', 'false', 'y', 'n']);

/**
 * What QemuOpts refuses first while it parses -o against an option list, in
 * the user's order: a name the list lacks, or a value its type does not take.
 * `anySize`: `size` passes even when the list lacks it (create's operand).
 */
export function qemuOptsProblem(specs: readonly CreateOptionSpec[], opts: Record<string, string>, anySize = false): string | undefined {
  for (const [key, value] of Object.entries(opts)) {
    const spec = specs.find((o) => o.name === key);
    if (spec === undefined) {
      if (anySize && key === 'size') continue;
      return `Invalid parameter '${key}'`;
    }
    try {
      if (spec.type === 'number') checkNumber(key, value);
      else if (spec.type === 'size') parseSizeParam(value, key);
    } catch (err) {
      return (err as Error).message;
    }
    if (spec.type === 'bool' && !QEMU_BOOLS.has(value)) return `Parameter '${key}' expects 'on' or 'off'`;
  }
  return undefined;
}
