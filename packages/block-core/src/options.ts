// Flat dotted option dictionaries (QEMU's QDict after qdict_flatten): helpers
// to split them by child role, read typed values and turn `json:{...}`
// filenames into the same flat shape.
import { BlockError } from './errors.js';
import type { BlockOptions } from './driver.js';
import { parseSize } from './util/index.js';

/**
 * JSON numbers and booleans of a `json:` filename, by flat key, as JSON text:
 * options are flat strings, but QEMU keeps their type, and a node shown as
 * `json:{...}` (refresh-filename.ts) prints `"offset": 4096`, not `"4096"`.
 * Kept beside an options object and carried to the copies made from it.
 */
const jsonLiterals = new WeakMap<BlockOptions, Map<string, string>>();

/** The JSON text of `key` when a json: filename gave it as a number or boolean. */
export function jsonLiteral(opts: BlockOptions, key: string): string | undefined {
  return jsonLiterals.get(opts)?.get(key);
}

/** Carries `from`'s JSON literals to `to` for the keys `rename` maps (default: the same key, when `to` has it with the same value). */
export function carryJsonLiterals(from: BlockOptions, to: BlockOptions, rename: (key: string) => string | undefined = (k) => k): void {
  const src = jsonLiterals.get(from);
  if (src === undefined) return;
  let dst = jsonLiterals.get(to);
  for (const [key, text] of src) {
    const k = rename(key);
    if (k === undefined || to[k] !== from[key]) continue;
    if (dst === undefined) jsonLiterals.set(to, (dst = new Map()));
    dst.set(k, text);
  }
}

/** Options of a child: `file.filename` -> `filename` for prefix `file`. */
export function childOptions(opts: BlockOptions, role: string): BlockOptions {
  const prefix = role + '.';
  const out: BlockOptions = {};
  for (const key in opts) if (key.startsWith(prefix)) out[key.slice(prefix.length)] = opts[key];
  carryJsonLiterals(opts, out, (k) => (k.startsWith(prefix) ? k.slice(prefix.length) : undefined));
  return out;
}

/** True when any `<role>.*` key is present. */
export function hasChildOptions(opts: BlockOptions, role: string): boolean {
  const prefix = role + '.';
  for (const key in opts) if (key.startsWith(prefix)) return true;
  return false;
}

/**
 * JSON null for a `backing` key ("no backing file"). Flat options are strings,
 * and the string forms mean other things: "" is the deprecated spelling of
 * null (QEMU warns), "null" names a node.
 */
export const JSON_NULL = '\0null';

/** Nested JSON object -> flat dotted keys. Booleans become on/off; null becomes JSON_NULL for `backing`, '' elsewhere. */
export function flattenJson(value: unknown, prefix = '', out: BlockOptions = {}): BlockOptions {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
      flattenJson(inner, prefix ? `${prefix}.${key}` : key, out);
    }
    return out;
  }
  if (Array.isArray(value)) {
    value.forEach((inner, i) => flattenJson(inner, `${prefix}.${i}`, out));
    return out;
  }
  if (!prefix) throw new BlockError('EINVAL', 'Could not parse the JSON options');
  const isBacking = prefix === 'backing' || prefix.endsWith('.backing');
  out[prefix] = value === null ? (isBacking ? JSON_NULL : '') : typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value);
  if (typeof value === 'number' || typeof value === 'boolean') {
    let m = jsonLiterals.get(out);
    if (m === undefined) jsonLiterals.set(out, (m = new Map()));
    m.set(prefix, String(value));
  }
  return out;
}

/** `json:{"driver":"raw","file":{"filename":"x"}}` -> {driver: 'raw', 'file.filename': 'x'}. */
export function parseJsonFilename(filename: string): BlockOptions {
  let parsed: unknown;
  try {
    parsed = JSON.parse(filename.slice('json:'.length));
  } catch {
    throw new BlockError('EINVAL', 'Could not parse the JSON options');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new BlockError('EINVAL', 'Invalid JSON object given');
  }
  return flattenJson(parsed);
}

/** QEMU booleans: on/off, yes/no, true/false, y/n (case matters). */
export function parseBool(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  switch (value) {
    case 'on': case 'yes': case 'true': case 'y': return true;
    case 'off': case 'no': case 'false': case 'n': return false;
    default: throw new BlockError('EINVAL', `Parameter '${name}' expects 'on' or 'off'`);
  }
}

/** QEMU's hint after a bad size option's error (error_report_err prints it on the next lines). */
const SIZE_OPTION_HINT = '\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.';

/** QemuOpts' error for a size option that is not a size, with its hint. */
export function sizeOptionError(name: string): BlockError {
  return new BlockError('EINVAL', `Parameter '${name}' expects a non-negative number below 2^64${SIZE_OPTION_HINT}`);
}

/** A size option (`size=1G`), or `fallback` when absent. */
export function parseSizeOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  try {
    return parseSize(value);
  } catch {
    throw sizeOptionError(name);
  }
}

/** A non-negative integer option. */
export function parseUintOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(value)) throw sizeOptionError(name);
  return Number(value);
}
