// errno-style errors. Drivers and the generic layer throw BlockError; tools
// print `message` (already in QEMU's words) and map `code` to exit status.

export type Errno =
  | 'EIO' | 'EINVAL' | 'ENOSPC' | 'EPERM' | 'ENOENT' | 'EROFS' | 'EFBIG'
  | 'ENOTSUP' | 'EACCES' | 'EEXIST' | 'EOVERFLOW' | 'ENOSYS' | 'EAGAIN'
  | 'ENOMEDIUM' | 'EBUSY' | 'ESHUTDOWN' | 'ECONNREFUSED' | 'ETIMEDOUT' | 'ERANGE'
  | 'EISDIR' | 'ENOTDIR' | 'EMFILE' | 'ENXIO';

const STRERROR: Record<Errno, string> = {
  EIO: 'Input/output error',
  EINVAL: 'Invalid argument',
  ENOSPC: 'No space left on device',
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EROFS: 'Read-only file system',
  EFBIG: 'File too large',
  ENOTSUP: 'Operation not supported',
  EACCES: 'Permission denied',
  EEXIST: 'File exists',
  EOVERFLOW: 'Value too large for defined data type',
  ENOSYS: 'Function not implemented',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEDIUM: 'No medium found',
  EBUSY: 'Device or resource busy',
  ESHUTDOWN: 'Cannot send after transport endpoint shutdown',
  ECONNREFUSED: 'Connection refused',
  ETIMEDOUT: 'Connection timed out',
  ERANGE: 'Numerical result out of range',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  EMFILE: 'Too many open files',
  ENXIO: 'No such device or address',
};

/** strerror(3) text for an errno name, as glibc prints it. */
export function strerror(code: Errno): string {
  return STRERROR[code];
}

export class BlockError extends Error {
  readonly code: Errno;
  /** `message` defaults to strerror(code); pass QEMU's full sentence where it has one. */
  constructor(code: Errno, message?: string) {
    super(message ?? STRERROR[code]);
    this.code = code;
    this.name = 'BlockError';
  }
}

/** Maps a Node.js system error (err.code) to a BlockError, keeping unknown codes as EIO. */
export function fromNodeError(err: unknown, message?: (text: string) => string): BlockError {
  if (err instanceof BlockError) return err;
  const nodeCode = (err as { code?: string })?.code;
  const code: Errno = nodeCode && nodeCode in STRERROR ? (nodeCode as Errno) : nodeCode === 'EOPNOTSUPP' ? 'ENOTSUP' : 'EIO';
  const text = STRERROR[code];
  return new BlockError(code, message ? message(text) : text);
}
