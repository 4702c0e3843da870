// Turning thrown errors into qemu-io's words without ever showing a stack.
import { BlockError, strerror, type Errno } from '@tsemu/block-core';

const NODE_CODES = new Set<string>(['EIO', 'EINVAL', 'ENOSPC', 'EPERM', 'ENOENT', 'EROFS', 'EFBIG', 'ENOTSUP', 'EACCES', 'EEXIST']);

function codeOf(e: unknown): Errno {
  if (e instanceof BlockError) return e.code;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NODE_CODES.has(code)) return code as Errno;
  if (code === 'EOPNOTSUPP') return 'ENOTSUP';
  return 'EIO';
}

/** glibc texts for host errors block-core's Errno does not name (write -s reads a local file). */
const HOST_ERRORS: Record<string, string> = {
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EMFILE: 'Too many open files',
  ENXIO: 'No such device or address',
  EBADF: 'Bad file descriptor',
};

/** strerror(-ret) as qemu-io prints after "read failed: " (the errno, not the sentence). */
export function errnoText(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (!(e instanceof BlockError) && typeof code === 'string' && code in HOST_ERRORS) return HOST_ERRORS[code];
  return strerror(codeOf(e)) ?? 'Input/output error';
}

/** The error's own message (QEMU's sentence, for error_report-style lines). */
export function errorText(e: unknown, preferMessage: boolean): string {
  if (preferMessage && e instanceof Error && e.message) {
    return e.message;
  }
  return errnoText(e);
}
