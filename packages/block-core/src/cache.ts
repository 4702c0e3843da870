// QEMU's cache modes, decomposed into the three flags the block layer acts on.
import { BlockError } from './errors.js';

export type CacheMode = 'writeback' | 'writethrough' | 'directsync' | 'none' | 'unsafe';

export interface CacheFlags {
  /** Write cache enabled (WCE). Off: every write is stable before it is acknowledged. */
  writeback: boolean;
  /** Bypass the host's cache (O_DIRECT for files, the direct flag for Sheepdog). */
  direct: boolean;
  /** Drop flushes (cache=unsafe). */
  noFlush: boolean;
}

const MODES: Record<CacheMode, CacheFlags> = {
  writeback: { writeback: true, direct: false, noFlush: false },
  none: { writeback: true, direct: true, noFlush: false },
  writethrough: { writeback: false, direct: false, noFlush: false },
  directsync: { writeback: false, direct: true, noFlush: false },
  unsafe: { writeback: true, direct: false, noFlush: true },
};

export const CACHE_MODES = Object.keys(MODES) as CacheMode[];

/** Parses a -t/--cache argument; `off` is QEMU's alias for none. Throws EINVAL on anything else. */
export function parseCacheMode(text: string): CacheFlags {
  const mode = text === 'off' ? 'none' : text;
  const flags = MODES[mode as CacheMode];
  if (!flags) throw new BlockError('EINVAL', `Invalid cache option: ${text}`);
  return { ...flags };
}

/** The mode name for a flag set (for info output and the demo). */
export function cacheModeName(flags: CacheFlags): CacheMode {
  for (const mode of CACHE_MODES) {
    const m = MODES[mode];
    if (m.writeback === flags.writeback && m.direct === flags.direct && m.noFlush === flags.noFlush) return mode;
  }
  // writethrough + noFlush is not a named mode; report the closest.
  return flags.direct ? 'directsync' : 'writethrough';
}
