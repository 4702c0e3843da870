// NBD carries Linux errno numbers for a small fixed set; everything else is
// EINVAL on the wire (as QEMU's server maps it) and EINVAL when received.
import type { Errno } from '@tsemu/block-core';

export const NBD_EPERM = 1;
export const NBD_EIO = 5;
export const NBD_ENOMEM = 12;
export const NBD_EINVAL = 22;
export const NBD_ENOSPC = 28;
export const NBD_EOVERFLOW = 75;
export const NBD_ENOTSUP = 95;
export const NBD_ESHUTDOWN = 108;

/** The NBD error a server sends for a block-layer failure. */
export function errnoToNbd(code: Errno | undefined): number {
  switch (code) {
    case 'EPERM':
    case 'EROFS':
    case 'EACCES':
      return NBD_EPERM;
    case 'EIO':
      return NBD_EIO;
    case 'ENOSPC':
    case 'EFBIG':
      return NBD_ENOSPC;
    case 'EOVERFLOW':
      return NBD_EOVERFLOW;
    case 'ENOTSUP':
    case 'ENOSYS':
      return NBD_ENOTSUP;
    case 'ESHUTDOWN':
      return NBD_ESHUTDOWN;
    default:
      return NBD_EINVAL;
  }
}

/** The block-layer error a client raises for an NBD error number. */
export function nbdToErrno(error: number): Errno {
  switch (error) {
    case NBD_EPERM:
      return 'EPERM';
    case NBD_EIO:
    case NBD_ENOMEM:
      return 'EIO';
    case NBD_ENOSPC:
      return 'ENOSPC';
    case NBD_EOVERFLOW:
      return 'EOVERFLOW';
    case NBD_ENOTSUP:
      return 'ENOTSUP';
    case NBD_ESHUTDOWN:
      return 'ESHUTDOWN';
    default:
      return 'EINVAL';
  }
}
