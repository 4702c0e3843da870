// How the command line (or the `open` command) turns into an OpenSpec, with
// the checks qemu-io makes before the block layer is asked.
import type { BlockOptions, OpenSpec } from '@tsemu/block-core';
import type { Session, Status } from './session.js';
import { EINVAL } from './session.js';

export type AioMode = 'threads' | 'native' | 'io_uring';

export interface OpenSettings {
  filename?: string;
  format?: string;
  options?: BlockOptions;
  imageOpts?: boolean;
  readOnly: boolean;
  /** qemu-io's default is writethrough (WCE off), not the block layer's writeback. */
  cache: string;
  /** qemu-io opens with discard=unmap unless told otherwise. */
  discard: 'ignore' | 'unmap';
  detectZeroes?: 'off' | 'on' | 'unmap';
  forceShare: boolean;
  aio: AioMode;
  snapshot: boolean;
  /** -C: copy-on-read on the top node. */
  copyOnRead?: boolean;
}

export const defaultSettings = (): OpenSettings => ({
  readOnly: false, cache: 'writethrough', discard: 'unmap', forceShare: false, aio: 'threads', snapshot: false,
});

const CACHE_MODES = new Set(['writeback', 'writethrough', 'directsync', 'none', 'unsafe']);

/** -t MODE; 'off' is QEMU's alias for none. */
export function parseCacheArg(text: string): string | undefined {
  if (text === 'off') return 'none';
  return CACHE_MODES.has(text) ? text : undefined;
}

export function parseDiscardArg(text: string): 'ignore' | 'unmap' | undefined {
  if (text === 'off' || text === 'ignore') return 'ignore';
  if (text === 'on' || text === 'unmap') return 'unmap';
  return undefined;
}

export function parseAioArg(text: string): AioMode | undefined {
  return text === 'threads' || text === 'native' || text === 'io_uring' ? text : undefined;
}

export function parseDetectZeroesArg(text: string): 'off' | 'on' | 'unmap' | undefined {
  return text === 'off' || text === 'on' || text === 'unmap' ? text : undefined;
}

const isDirect = (cache: string): boolean => cache === 'none' || cache === 'directsync';

/**
 * Opens `settings` in the session, printing qemu-io's error on failure;
 * with `onOpenError` (reopen) the block layer's reason goes there instead.
 */
export async function openWithSettings(s: Session, settings: OpenSettings, onOpenError?: (why: string) => void): Promise<Status> {
  if (s.blk) {
    s.err("qemu-io: file open already, try 'help close'");
    return EINVAL;
  }
  const where = settings.filename !== undefined && !settings.imageOpts ? `can't open device ${settings.filename}` : "can't open";
  const refuse = (why: string): Status => (s.err(`qemu-io: ${where}: ${why}`), EINVAL);
  // Under -s the image itself is opened read-only (below the overlay), so -U is allowed there.
  if (settings.forceShare && !settings.readOnly && !settings.snapshot) return refuse('force-share=on can only be used with read-only images');
  if (settings.aio === 'native' && !isDirect(settings.cache)) {
    return refuse('aio=native was specified, but it requires cache.direct=on, which was not specified.');
  }
  const spec: OpenSpec = {
    filename: settings.filename,
    format: settings.format,
    options: settings.options,
    imageOpts: settings.imageOpts,
    readOnly: settings.readOnly,
    cache: settings.cache,
    discard: settings.discard,
    detectZeroes: settings.detectZeroes,
    forceShare: settings.forceShare,
    snapshot: settings.snapshot,
    copyOnRead: settings.copyOnRead,
    // qemu-io serves only its own commands: small writes may block the event loop for microseconds.
    singleClient: true,
    onOptionWarning: (line) => s.err(`qemu-io: ${line}`),
  };
  const status = await s.open(spec, onOpenError);
  if (status === 0) s.settings = settings;
  return status;
}
