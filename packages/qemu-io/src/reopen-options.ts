// `reopen -o OPTIONS`: which options may change on an open image, checked
// in the order qemu-io 7.2 reports them (seen by experiment): the -r/-w and
// -c conflicts, boolean values, discard, detect-zeroes, then anything that
// cannot change at all, then the read-only permission. What passes is
// applied by closing and opening again (the block layer has no live reopen).
import { parseBool, type BlockBackend, type BlockOptions } from '@tsemu/block-core';
import { parseDetectZeroesArg, parseDiscardArg, type OpenSettings } from './open-settings.js';

/** Options every node takes on reopen (QEMU's generic runtime options that may change). */
const GENERIC = new Set(['read-only', 'auto-read-only', 'cache.direct', 'cache.no-flush', 'discard', 'detect-zeroes']);
/** Options of the protocol child that may change. */
const FILE_CHANGEABLE = new Set(['cache.direct', 'cache.no-flush']);
const BOOLS = ['read-only', 'cache.direct', 'cache.no-flush', 'auto-read-only'];
/** Boolean runtime options of formats (qcow2's): the driver parses them before the unchangeable ones are named. */
const FORMAT_BOOLS = ['lazy-refcounts', 'pass-discard-request', 'pass-discard-snapshot', 'pass-discard-other'];
/** Format open options that name a child, which reopen cannot change (qcow2's external data file). */
const FORMAT_CHILDREN = new Set(['data-file']);

export interface ReopenRequest {
  /** -r or -w was given. */
  rw: boolean;
  /** -c was given. */
  cacheArg: boolean;
}

/** Checks `opts` against the open image; returns qemu-io's error text, or applies them to `next` and returns undefined. */
export function applyReopenOptions(blk: BlockBackend, opts: BlockOptions, req: ReopenRequest, next: OpenSettings): string | undefined {
  const keys = Object.keys(opts);
  if (keys.length === 0) return undefined;
  if (req.rw && 'read-only' in opts) return "Cannot set both -r/-w and 'read-only'";
  if (req.cacheArg && ('cache.direct' in opts || 'cache.no-flush' in opts)) return 'Cannot set both -c and the cache options';
  for (const prefix of ['', 'file.']) {
    for (const name of BOOLS) {
      const v = opts[prefix + name];
      if (v === undefined) continue;
      try {
        parseBool(name, v, false);
      } catch {
        return `Parameter '${name}' expects 'on' or 'off'`;
      }
    }
  }
  let discard = next.discard;
  if (opts.discard !== undefined) {
    const d = parseDiscardArg(opts.discard);
    if (d === undefined) return 'Invalid discard option';
    discard = d;
  }
  let detectZeroes = next.detectZeroes;
  if (opts['detect-zeroes'] !== undefined) {
    detectZeroes = parseDetectZeroesArg(opts['detect-zeroes']);
    if (detectZeroes === undefined) return `invalid parameter value: ${opts['detect-zeroes']}`;
    if (detectZeroes === 'unmap' && discard !== 'unmap') {
      return 'setting detect-zeroes to unmap is not allowed without setting discard operation to unmap';
    }
  }
  const formatOptions = blk.root.driver.openOptions ?? [];
  for (const name of FORMAT_BOOLS) {
    const v = opts[name];
    if (v === undefined || !formatOptions.includes(name)) continue;
    try {
      parseBool(name, v, false);
    } catch {
      return `Parameter '${name}' expects 'on' or 'off'`;
    }
  }
  const unchangeable = firstUnchangeable(blk, keys, opts);
  if (unchangeable !== undefined) return `Cannot change the option '${unchangeable}'`;
  const readOnly = opts['read-only'] === undefined ? next.readOnly : parseBool('read-only', opts['read-only'], false);
  // qemu-io's BlockBackend keeps its write permission: the node cannot drop it under it.
  if (readOnly && !next.readOnly) return "Read-only block node '#block0' cannot support read-write users";

  const carried: BlockOptions = { ...next.options };
  for (const k of keys) {
    if (k === 'read-only' || k === 'discard' || k === 'detect-zeroes') continue;
    carried[k] = opts[k]!;
  }
  next.options = carried;
  next.readOnly = readOnly;
  next.discard = discard;
  next.detectZeroes = detectZeroes;
  return undefined;
}

/**
 * The first option (QEMU names it without its child prefix) that reopen
 * cannot change: the format node's own first (in name order), then the
 * protocol child's. `driver` and `filename` may be given unchanged.
 */
function firstUnchangeable(blk: BlockBackend, keys: string[], opts: BlockOptions): string | undefined {
  const root = blk.root;
  const file = root.file;
  const formatOptions = new Set((root.driver.openOptions ?? []).filter((o) => o !== 'file' && o !== 'backing'));
  const own = keys.filter((k) => !k.startsWith('file.')).sort();
  for (const k of own) {
    if (GENERIC.has(k) || (formatOptions.has(k) && !FORMAT_CHILDREN.has(k))) continue;
    if (k === 'driver' && opts[k] === root.driver.name) continue;
    if (k === 'filename' && opts[k] === root.filename) continue;
    return k;
  }
  const child = keys.filter((k) => k.startsWith('file.')).map((k) => k.slice(5)).sort();
  for (const k of child) {
    if (FILE_CHANGEABLE.has(k) || k === 'auto-read-only') continue;
    const v = opts[`file.${k}`];
    if (k === 'driver' && v === file?.driver.name) continue;
    if (k === 'filename' && v === file?.filename) continue;
    return k;
  }
  return undefined;
}
