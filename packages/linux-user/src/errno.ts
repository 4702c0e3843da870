/** Linux errno values (the same on ARM and x86 hosts for these). */
export const E = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, EIO: 5, EBADF: 9, ECHILD: 10, EAGAIN: 11, ENOMEM: 12, EACCES: 13,
  EFAULT: 14, EEXIST: 17, EXDEV: 18, ENOTDIR: 20, EISDIR: 21, EINVAL: 22, EMFILE: 24, ENOTTY: 25, EFBIG: 27,
  ENOSPC: 28, ESPIPE: 29, EROFS: 30, EPIPE: 32, ERANGE: 34, ENAMETOOLONG: 36, ENOSYS: 38, ENOTEMPTY: 39, ELOOP: 40,
} as const;

/** Map a Node.js fs error to -errno. */
export function errnoOf(e: unknown): number {
  const err = e as { errno?: number; code?: string };
  if (typeof err.code === 'string' && err.code in E) return -E[err.code as keyof typeof E];
  if (typeof err.errno === 'number' && err.errno < 0) return err.errno;
  return -E.EIO;
}

export class GuestExit extends Error {
  constructor(readonly status: number, readonly signal = 0) {
    super(signal ? `guest killed by signal ${signal}` : `guest exited with ${status}`);
  }
}
