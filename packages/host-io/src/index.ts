// Optional native calls for local files. When the addon is not built (no
// compiler, not Linux) `hostIo.available` is false and every call throws
// ENOSYS, so callers keep a portable path and can say what they lost.
import { createRequire } from 'node:module';

interface NativeHostIo {
  seek(fd: number, offset: number, whence: number): number;
  fallocate(fd: number, mode: number, offset: number, length: number): void;
}

/** fallocate(2) mode bits (linux/falloc.h). */
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_ZERO_RANGE = 0x10;

function load(): NativeHostIo | null {
  try {
    return createRequire(import.meta.url)('../build/host_io.node') as NativeHostIo;
  } catch {
    return null;
  }
}

const native = load();

function unavailable(): never {
  throw Object.assign(new Error('host-io native addon is not built'), { code: 'ENOSYS' });
}

export const hostIo = {
  /** The addon loaded: SEEK_DATA/SEEK_HOLE and fallocate are real. */
  available: native !== null,
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
};
