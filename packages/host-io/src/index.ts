// Optional native calls for local files. When the addon is not built (no
// compiler, not Linux) `hostIo.available` is false and every call throws
// ENOSYS (the *Nowait calls return NOWAIT_ENOSYS instead), so callers keep a
// portable path and can say what they lost.
import { createRequire } from 'node:module';

interface NativeHostIo {
  seek(fd: number, offset: number, whence: number): number;
  fallocate(fd: number, mode: number, offset: number, length: number): void;
  preadNowait(fd: number, buf: Uint8Array, offset: number, length?: number): number;
  pwriteNowait(fd: number, buf: Uint8Array, offset: number, length?: number): number;
  preadvNowait(fd: number, bufs: readonly Uint8Array[], offset: number): number;
  pwritevNowait(fd: number, bufs: readonly Uint8Array[], offset: number): number;
  fadvise(fd: number, offset: number, length: number, advice: number): number;
}

/** fallocate(2) mode bits (linux/falloc.h). */
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_ZERO_RANGE = 0x10;

/** Negative errno values the *Nowait calls return (Linux numbering). */
export const NOWAIT_EAGAIN = -11;
export const NOWAIT_EINVAL = -22;
export const NOWAIT_ENOSYS = -38;
export const NOWAIT_EOPNOTSUPP = -95;
/** Most buffers one preadvNowait/pwritevNowait call takes; more is NOWAIT_EINVAL. */
export const NOWAIT_IOV_MAX = 64;
/** posix_fadvise advice: drop the range from the page cache (after writeback). */
export const POSIX_FADV_DONTNEED = 4;
/** posix_fadvise advice: random access (no readahead). */
export const POSIX_FADV_RANDOM = 1;

function load(): NativeHostIo | null {
  try {
    return createRequire(import.meta.url)('../build/host_io.node') as NativeHostIo;
  } catch {
    return null;
  }
}

const native = load();
// An addon built from an older host_io.c lacks the RWF_NOWAIT calls; treat them as absent.
const nowaitNative = native && typeof native.preadNowait === 'function' ? native : null;

function unavailable(): never {
  throw Object.assign(new Error('host-io native addon is not built'), { code: 'ENOSYS' });
}

export const hostIo = {
  /** The addon loaded: SEEK_DATA/SEEK_HOLE and fallocate are real. */
  available: native !== null,
  /** The addon has the RWF_NOWAIT calls (preadNowait and friends); false means they return NOWAIT_ENOSYS. */
  nowait: nowaitNative !== null,
  /** Next offset >= `offset` holding data, or -1 when only a hole remains (lseek SEEK_DATA). */
  seekData(fd: number, offset: number): number {
    return native ? native.seek(fd, offset, 0) : unavailable();
  },
  /** Next offset >= `offset` in a hole (EOF counts as one), or -1 past EOF (lseek SEEK_HOLE). */
  seekHole(fd: number, offset: number): number {
    return native ? native.seek(fd, offset, 1) : unavailable();
  },
  /** fallocate(2). Throws an Error whose `code` is the errno name (ENOTSUP where the file system can't). */
  fallocate(fd: number, mode: number, offset: number, length: number): void {
    if (!native) unavailable();
    native.fallocate(fd, mode, offset, length);
  },
  /**
   * preadv2(RWF_NOWAIT) into `buf` (the first `length` bytes, default all):
   * bytes read (short at EOF, or when only a prefix is cached), or a negative
   * errno: NOWAIT_EAGAIN when the data is not in the page cache,
   * NOWAIT_EOPNOTSUPP where the file system ignores RWF_NOWAIT (tmpfs),
   * NOWAIT_ENOSYS without the addon. Never throws, never blocks on the disk.
   */
  preadNowait(fd: number, buf: Uint8Array, offset: number, length?: number): number {
    return nowaitNative ? nowaitNative.preadNowait(fd, buf, offset, length) : NOWAIT_ENOSYS;
  },
  /** pwritev2(RWF_NOWAIT); results as preadNowait. ext4 and tmpfs answer NOWAIT_EOPNOTSUPP for buffered writes. */
  pwriteNowait(fd: number, buf: Uint8Array, offset: number, length?: number): number {
    return nowaitNative ? nowaitNative.pwriteNowait(fd, buf, offset, length) : NOWAIT_ENOSYS;
  },
  /** Vectored preadNowait over whole buffers (at most NOWAIT_IOV_MAX). */
  preadvNowait(fd: number, bufs: readonly Uint8Array[], offset: number): number {
    return nowaitNative ? nowaitNative.preadvNowait(fd, bufs, offset) : NOWAIT_ENOSYS;
  },
  /** Vectored pwriteNowait over whole buffers (at most NOWAIT_IOV_MAX). */
  pwritevNowait(fd: number, bufs: readonly Uint8Array[], offset: number): number {
    return nowaitNative ? nowaitNative.pwritevNowait(fd, bufs, offset) : NOWAIT_ENOSYS;
  },
  /** posix_fadvise(2): 0 or a negative errno (NOWAIT_ENOSYS without the addon). */
  fadvise(fd: number, offset: number, length: number, advice: number): number {
    return nowaitNative ? nowaitNative.fadvise(fd, offset, length, advice) : NOWAIT_ENOSYS;
  },
};

/**
 * Drops a written-back file's pages from the page cache, with readahead off
 * (FADV_RANDOM) so a later miss brings back only what is read; for tests and
 * benches of cold reads. Checked with a 1-byte non-blocking probe at
 * `probeAt` and retried, since a busy machine can keep a page pinned for a
 * moment. False when the pages stayed (or the addon is missing).
 */
export async function dropCachedPages(fd: number, probeAt: number): Promise<boolean> {
  if (hostIo.fadvise(fd, 0, 0, POSIX_FADV_RANDOM) !== 0) return false;
  const probe = new Uint8Array(1);
  for (let attempt = 0; attempt < 50; attempt++) {
    if (hostIo.fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) !== 0) return false;
    if (hostIo.preadNowait(fd, probe, probeAt) === NOWAIT_EAGAIN) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

export { hostProc, childSignals, caughtSignals, SIGNAL_DEFAULT, SIGNAL_IGNORE, SIGNAL_CATCH } from './process.js';
