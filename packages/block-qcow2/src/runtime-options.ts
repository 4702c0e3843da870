// qcow2's open-time (runtime) options, checked in the order and with the
// words of QEMU 7.2's qcow2_update_options: typed values first, then the
// cache sizes and their relations, the cache-clean interval, the
// overlap checks and the encryption format. Only the L2 cache size, lazy
// refcounts and discard pass-through change what tsemu does; the others are
// checked and accepted.
import { BlockError, parseBool, parseCNumber, parseSize, sizeOptionError } from '@tsemu/block-core';
import type { Qcow2Header } from './header.js';

type Options = Record<string, string | undefined>;

export interface Qcow2RuntimeOptions {
  /** l2-cache-size (or its share of cache-size) in bytes; undefined: the default. */
  l2CacheBytes: number | undefined;
  lazyRefcounts: boolean | undefined;
  passDiscard: { request: boolean; snapshot: boolean; other: boolean };
}

const OVERLAP_MODES = ['none', 'constant', 'cached', 'all'];
/** The metadata kinds of overlap-check.<kind>=on|off. */
const OVERLAP_KINDS = [
  'main-header', 'active-l1', 'active-l2', 'refcount-table', 'refcount-block', 'snapshot-table', 'inactive-l1', 'inactive-l2', 'bitmap-directory',
];
const MIN_ENTRY = 512;
const INT_MAX = 2 ** 31 - 1;
const UINT_MAX = 2 ** 32 - 1;

function invalid(message: string): BlockError {
  return new BlockError('EINVAL', message);
}

function size(o: Options, name: string): number | undefined {
  const v = o[name];
  if (v === undefined) return undefined;
  try {
    return parseSize(v);
  } catch {
    throw sizeOptionError(name);
  }
}

/** `discardUnmap`: the node's discard=unmap, which pass-discard-request follows by default. */
export function parseRuntimeOptions(o: Options, header: Pick<Qcow2Header, 'clusterSize' | 'cryptMethod'>, discardUnmap: boolean): Qcow2RuntimeOptions {
  const clusterSize = header.clusterSize;
  // QemuOpts' typed values.
  const combined = size(o, 'cache-size');
  const l2 = size(o, 'l2-cache-size');
  const refcount = size(o, 'refcount-cache-size');
  const entry = size(o, 'l2-cache-entry-size');
  let interval: bigint | undefined;
  if (o['cache-clean-interval'] !== undefined) {
    const n = parseCNumber(o['cache-clean-interval']);
    if (typeof n !== 'bigint') throw invalid("Parameter 'cache-clean-interval' expects a number");
    interval = n;
  }
  const lazyOpt = o['lazy-refcounts'];
  const lazyRefcounts = lazyOpt === undefined ? undefined : parseBool('lazy-refcounts', lazyOpt, false);
  const passDiscard = {
    request: parseBool('pass-discard-request', o['pass-discard-request'], discardUnmap),
    snapshot: parseBool('pass-discard-snapshot', o['pass-discard-snapshot'], true),
    other: parseBool('pass-discard-other', o['pass-discard-other'], false),
  };
  for (const kind of OVERLAP_KINDS) parseBool(`overlap-check.${kind}`, o[`overlap-check.${kind}`], false);

  // read_cache_sizes.
  if (combined !== undefined && l2 !== undefined && refcount !== undefined) {
    throw invalid('cache-size, l2-cache-size and refcount-cache-size may not be set at the same time');
  }
  if (combined !== undefined && l2 !== undefined && l2 > combined) throw invalid('l2-cache-size may not exceed cache-size');
  if (combined !== undefined && refcount !== undefined && refcount > combined) throw invalid('refcount-cache-size may not exceed cache-size');
  const entrySize = entry ?? clusterSize;
  if (entrySize < MIN_ENTRY || entrySize > clusterSize || (entrySize & (entrySize - 1)) !== 0) {
    throw invalid(`L2 cache entry size must be a power of two between ${MIN_ENTRY} and the cluster size (${clusterSize})`);
  }
  // cache-size alone goes to the L2 cache first (as QEMU, up to what the image needs; tsemu sizes it on open).
  const l2CacheBytes = l2 ?? (combined !== undefined ? combined - (refcount ?? 0) : undefined);
  if (l2CacheBytes !== undefined && l2CacheBytes / entrySize > INT_MAX) throw invalid('L2 cache size too big');
  if (refcount !== undefined && refcount / clusterSize > INT_MAX) throw invalid('Refcount cache size too big');

  if (interval !== undefined && interval > BigInt(UINT_MAX)) throw invalid('Cache clean interval too big');
  // (lazy-refcounts on a version 2 image is refused where the image opens: open.ts.)

  const mode = o['overlap-check'], template = o['overlap-check.template'];
  if (mode !== undefined && template !== undefined && mode !== template) {
    throw invalid(`Conflicting values for qcow2 options 'overlap-check' ('${mode}') and 'overlap-check.template' ('${template}')`);
  }
  const overlap = mode ?? template ?? 'cached';
  if (!OVERLAP_MODES.includes(overlap)) {
    throw invalid(`Unsupported value '${overlap}' for qcow2 option 'overlap-check'. Allowed are any of the following: ${OVERLAP_MODES.join(', ')}`);
  }
  // encrypt.format must name the header's encryption (any other name, valid or not, is refused).
  const format = o['encrypt.format'];
  const inHeader = header.cryptMethod === 1 ? 'aes' : header.cryptMethod === 2 ? 'luks' : undefined;
  if (format !== undefined && inHeader === undefined) throw invalid(`No encryption in image header, but options specified format '${format}'`);
  if (format !== undefined && format !== inHeader) throw invalid(`Header reported '${inHeader}' encryption format but options specify '${format}'`);
  return { l2CacheBytes, lazyRefcounts, passDiscard };
}
