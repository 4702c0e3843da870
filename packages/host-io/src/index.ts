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
  mapRead(fd: number, offset: number, length: number, residentOnly: boolean): ArrayBuffer | number;
  unmap(buffer: ArrayBuffer): number;
  pageSize?: number;
  zeroRuns(buf: Uint8Array, length: number, phase: number, align: number, runs: Int32Array): number;
  ofdLock(fd: number, start: number, length: number, type: number): number;
  ofdTest(fd: number, start: number, length: number): number;
  zstdAvailable(): boolean;
  zstdCompress(src: Uint8Array, dst: Uint8Array, level: number): number;
  zstdDecompress(src: Uint8Array, dst: Uint8Array): number;
  zlibAvailable(): boolean;
  deflateRawAsync(src: Uint8Array, dst: Uint8Array, level: number, windowBits: number, memLevel: number): Promise<number>;
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
/** mapRead's answer when residentOnly was asked and part of the range is not in the page cache. */
export const MAP_EAGAIN = -11;
/** mapRead's answer when the range reaches past the file's current size (such a page would raise SIGBUS). */
export const MAP_ERANGE = -34;
/** zstdCompress / deflateRawAsync: the output does not fit in the buffer given. */
export const ZSTD_ENOSPC = -28;
/** zstdDecompress: damaged data. */
export const ZSTD_EIO = -5;
/** ofdLock types. */
export const OFD_UNLOCK = 0;
export const OFD_SHARED = 1;
export const OFD_EXCLUSIVE = 2;
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
const mapNative = native && typeof native.mapRead === 'function' ? native : null;
const zeroNative = native && typeof native.zeroRuns === 'function' ? native : null;
const lockNative = native && typeof native.ofdLock === 'function' ? native : null;
const zstdNative = native && typeof native.zstdAvailable === 'function' ? native : null;
const zlibNative = native && typeof native.zlibAvailable === 'function' ? native : null;

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
  /** The addon has mapRead/unmap (read-only file mappings). */
  mmap: mapNative !== null,
  /** The host's page size: mapRead offsets are multiples of it (4096 when unknown). */
  pageSize: mapNative?.pageSize ?? 4096,
  /**
   * A read-only shared mapping of [offset, offset+length) of a regular file
   * (offset a multiple of the page size), as an ArrayBuffer over the page
   * cache: reading it copies nothing. Or a negative errno: MAP_ERANGE when the
   * range is not inside the file's current size, MAP_EAGAIN under
   * `residentOnly` when a page is not cached (touching it would wait for the
   * disk on this thread), NOWAIT_ENOSYS without the addon.
   * Caution: if the file is truncated below the range while it is mapped,
   * touching the lost pages kills the process with SIGBUS; map only files
   * this process alone writes, or that nobody shrinks.
   */
  mapRead(fd: number, offset: number, length: number, residentOnly: boolean): ArrayBuffer | number {
    return mapNative ? mapNative.mapRead(fd, offset, length, residentOnly) : NOWAIT_ENOSYS;
  },
  /**
   * Unmaps a mapRead buffer now and detaches it (its views become empty).
   * 0, or NOWAIT_EINVAL when it is not a live mapping. Unreleased mappings are
   * unmapped when the buffer is garbage-collected.
   */
  unmap(buffer: ArrayBuffer): number {
    return mapNative ? mapNative.unmap(buffer) : NOWAIT_ENOSYS;
  },
  /** The addon has zeroRuns. */
  zeroScan: zeroNative !== null,
  /**
   * Cuts buf[0, length) into blocks ending on multiples of `align` counted
   * from `phase` bytes before buf's start (0 <= phase < align; the first and
   * last blocks may be partial) and stores each maximal run of all-zero
   * blocks in `runs` as a start/end pair. Returns the number of runs, or
   * NOWAIT_EINVAL (bad arguments, or `runs` too short: a buffer of b blocks
   * has at most ceil(b/2) runs), NOWAIT_ENOSYS without the addon.
   */
  zeroRuns(buf: Uint8Array, length: number, phase: number, align: number, runs: Int32Array): number {
    return zeroNative ? zeroNative.zeroRuns(buf, length, phase, align, runs) : NOWAIT_ENOSYS;
  },
  /** The addon has ofdLock/ofdTest (open file description locks). */
  ofdLocks: lockNative !== null,
  /**
   * fcntl(F_OFD_SETLK) over [start, start+length): `type` OFD_UNLOCK,
   * OFD_SHARED or OFD_EXCLUSIVE. 0, or a negative errno (-11 EAGAIN: another
   * open file description holds a conflicting lock; NOWAIT_ENOSYS without the addon).
   */
  ofdLock(fd: number, start: number, length: number, type: number): number {
    return lockNative ? lockNative.ofdLock(fd, start, length, type) : NOWAIT_ENOSYS;
  },
  /**
   * fcntl(F_OFD_GETLK) for an exclusive lock over [start, start+length): 1
   * when another open file description holds a lock there (ours never
   * count), 0 when none does, or a negative errno (NOWAIT_ENOSYS without the addon).
   */
  ofdTest(fd: number, start: number, length: number): number {
    return lockNative ? lockNative.ofdTest(fd, start, length) : NOWAIT_ENOSYS;
  },
  /**
   * libzstd could be loaded (the addon opens the host's libzstd.so.1 with
   * dlopen on first use); false without it or without the addon.
   */
  zstdAvailable(): boolean {
    return zstdNative ? zstdNative.zstdAvailable() : false;
  },
  /**
   * Compresses all of `src` into `dst` as one zstd frame at `level` (with the
   * content size, no checksum: what QEMU's qcow2 writes): the frame's length,
   * ZSTD_ENOSPC when it does not fit in `dst`, NOWAIT_ENOSYS without libzstd.
   */
  zstdCompress(src: Uint8Array, dst: Uint8Array, level: number): number {
    return zstdNative ? zstdNative.zstdCompress(src, dst, level) : NOWAIT_ENOSYS;
  },
  /**
   * Decodes zstd frames from `src`, one after another, until `dst` is full
   * (bytes after that are ignored): the bytes written, fewer than
   * dst.length when `src` ended first, ZSTD_EIO for damaged data,
   * NOWAIT_ENOSYS without libzstd.
   */
  zstdDecompress(src: Uint8Array, dst: Uint8Array): number {
    return zstdNative ? zstdNative.zstdDecompress(src, dst) : NOWAIT_ENOSYS;
  },
  /** The host's libz.so.1 could be loaded (dlopen on first use); false without it or without the addon. */
  zlibAvailable(): boolean {
    return zlibNative ? zlibNative.zlibAvailable() : false;
  },
  /**
   * Raw deflate (no zlib header) of all of `src` into `dst` with the host's
   * libz, on libuv's thread pool: the bytes qemu-img's own zlib makes (Node's
   * bundled zlib makes other valid bytes for some data). Resolves to the
   * compressed length, ZSTD_ENOSPC (-28) when it does not fit in `dst`, or
   * another negative errno (NOWAIT_ENOSYS without libz). Neither buffer may
   * change until it settles.
   */
  deflateRawAsync(src: Uint8Array, dst: Uint8Array, level: number, windowBits: number, memLevel: number): Promise<number> {
    return zlibNative ? zlibNative.deflateRawAsync(src, dst, level, windowBits, memLevel) : Promise.resolve(NOWAIT_ENOSYS);
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
 * moment. `from`: drop only the pages from there to the end of the file
 * (a large folio straddling it may stay). False when the pages stayed (or
 * the addon is missing).
 */
export async function dropCachedPages(fd: number, probeAt: number, from = 0): Promise<boolean> {
  if (hostIo.fadvise(fd, 0, 0, POSIX_FADV_RANDOM) !== 0) return false;
  const probe = new Uint8Array(1);
  for (let attempt = 0; attempt < 50; attempt++) {
    if (hostIo.fadvise(fd, from, 0, POSIX_FADV_DONTNEED) !== 0) return false;
    if (hostIo.preadNowait(fd, probe, probeAt) === NOWAIT_EAGAIN) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

export { hostProc, childSignals, caughtSignals, CAUGHT_RT, SIGNAL_DEFAULT, SIGNAL_IGNORE, SIGNAL_CATCH } from './process.js';
