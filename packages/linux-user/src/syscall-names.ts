/** Names of ARM EABI system calls, for -strace. */
export const SYSCALL_NAMES: Record<number, string> = {
  1: 'exit', 2: 'fork', 3: 'read', 4: 'write', 5: 'open', 6: 'close', 10: 'unlink', 11: 'execve', 12: 'chdir', 19: 'lseek',
  20: 'getpid', 33: 'access', 37: 'kill', 38: 'rename', 39: 'mkdir', 40: 'rmdir', 41: 'dup', 42: 'pipe', 45: 'brk',
  54: 'ioctl', 60: 'umask', 63: 'dup2', 64: 'getppid', 78: 'gettimeofday', 85: 'readlink', 91: 'munmap', 114: 'wait4',
  116: 'sysinfo', 120: 'clone', 122: 'uname', 125: 'mprotect', 140: '_llseek', 142: '_newselect', 145: 'readv',
  146: 'writev', 158: 'sched_yield', 162: 'nanosleep', 163: 'mremap', 168: 'poll', 172: 'prctl', 173: 'rt_sigreturn',
  174: 'rt_sigaction', 175: 'rt_sigprocmask', 183: 'getcwd', 186: 'sigaltstack', 190: 'vfork', 191: 'ugetrlimit',
  192: 'mmap2', 195: 'stat64', 196: 'lstat64', 197: 'fstat64', 199: 'getuid32', 200: 'getgid32', 201: 'geteuid32',
  202: 'getegid32', 217: 'getdents64', 220: 'madvise', 221: 'fcntl64', 224: 'gettid', 238: 'tkill', 240: 'futex',
  248: 'exit_group', 256: 'set_tid_address', 263: 'clock_gettime', 264: 'clock_getres', 268: 'tgkill', 322: 'openat',
  323: 'mkdirat', 327: 'fstatat64', 328: 'unlinkat', 329: 'renameat', 332: 'readlinkat', 334: 'faccessat',
  338: 'set_robust_list', 358: 'dup3', 359: 'pipe2', 369: 'prlimit64', 384: 'getrandom', 397: 'statx', 398: 'rseq',
  403: 'clock_gettime64', 406: 'clock_getres_time64', 407: 'clock_nanosleep_time64', 439: 'faccessat2',
  0xf0002: 'cacheflush', 0xf0005: 'set_tls',
};
