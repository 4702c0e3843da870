// Guest pointer arguments of the system calls, checked before a handler runs:
// a buffer the guest cannot access makes the call fail with EFAULT, as under
// qemu-arm (it locks each whole guest buffer before the host call) and the
// kernel. Without the check a bad pointer would read or write the flat guest
// memory behind unmapped pages, or past its end.
import { PERM_R, PERM_W, PAGE_BITS, type GuestMemory } from '@tsemu/tcg';

/** The kernel reads the buffer. */
const IN = 1;
/** The kernel writes the buffer. */
const OUT = 2;
/** A NUL-terminated string the kernel reads. */
const STR = 3;
/** An iovec array (8 bytes per entry, count in `lenArg`) whose buffers the kernel reads (writev) or writes (readv). */
const IOV_IN = 4;
const IOV_OUT = 5;
/** Or-ed into a kind: NULL is allowed (an optional argument). */
const OPT = 8;

/**
 * One pointer argument: `arg` holds the address; its length is `size` bytes,
 * plus `scale` times argument `lenArg` when lenArg >= 0.
 */
interface PointerArg {
  readonly arg: number;
  readonly kind: number;
  readonly size: number;
  readonly lenArg: number;
  readonly scale: number;
}

const fixed = (arg: number, kind: number, size: number): PointerArg => ({ arg, kind, size, lenArg: -1, scale: 0 });
const sized = (arg: number, kind: number, lenArg: number, scale = 1): PointerArg => ({ arg, kind, size: 0, lenArg, scale });
const str = (arg: number): PointerArg => fixed(arg, STR, 0);

const STAT64 = 104, STATX = 256, TIMESPEC32 = 8, TIMESPEC64 = 16, SIGSET = 8, SIGACTION = 20, STACK_T = 12;

/** By ARM EABI syscall number. Calls not listed take no pointers, or check them themselves (ioctl, fcntl, clone). */
export const SYSCALL_POINTERS: ReadonlyMap<number, readonly PointerArg[]> = new Map<number, PointerArg[]>([
  [3, [sized(1, OUT, 2)]], // read
  [4, [sized(1, IN, 2)]], // write
  [145, [sized(1, IOV_OUT, 2, 8)]], // readv
  [146, [sized(1, IOV_IN, 2, 8)]], // writev
  [5, [str(0)]], // open
  [322, [str(1)]], // openat
  [195, [str(0), fixed(1, OUT, STAT64)]], // stat64
  [196, [str(0), fixed(1, OUT, STAT64)]], // lstat64
  [197, [fixed(1, OUT, STAT64)]], // fstat64
  [327, [str(1), fixed(2, OUT, STAT64)]], // fstatat64
  [397, [str(1), fixed(4, OUT, STATX)]], // statx
  [217, [sized(1, OUT, 2)]], // getdents64
  [85, [str(0), sized(1, OUT, 2)]], // readlink
  [332, [str(1), sized(2, OUT, 3)]], // readlinkat
  [33, [str(0)]], // access
  [334, [str(1)]], // faccessat
  [439, [str(1)]], // faccessat2
  [10, [str(0)]], // unlink
  [328, [str(1)]], // unlinkat
  [40, [str(0)]], // rmdir
  [39, [str(0)]], // mkdir
  [323, [str(1)]], // mkdirat
  [38, [str(0), str(1)]], // rename
  [329, [str(1), str(3)]], // renameat
  [12, [str(0)]], // chdir
  [183, [sized(0, OUT, 1)]], // getcwd
  [11, [str(0)]], // execve
  [42, [fixed(0, OUT, 8)]], // pipe
  [359, [fixed(0, OUT, 8)]], // pipe2
  [168, [sized(0, OUT, 1, 8)]], // poll: the kernel reads and writes the array
  [336, [sized(0, OUT, 1, 8), fixed(2, IN | OPT, TIMESPEC32)]], // ppoll
  [414, [sized(0, OUT, 1, 8), fixed(2, IN | OPT, TIMESPEC64)]], // ppoll_time64
  [122, [fixed(0, OUT, 65 * 6)]], // uname
  [191, [fixed(1, OUT, 8)]], // ugetrlimit
  [369, [fixed(2, IN | OPT, 16), fixed(3, OUT | OPT, 16)]], // prlimit64
  [116, [fixed(0, OUT, 64)]], // sysinfo
  [384, [sized(0, OUT, 1)]], // getrandom
  [263, [fixed(1, OUT, TIMESPEC32)]], // clock_gettime
  [403, [fixed(1, OUT, TIMESPEC64)]], // clock_gettime64
  [264, [fixed(1, OUT | OPT, TIMESPEC32)]], // clock_getres
  [406, [fixed(1, OUT | OPT, TIMESPEC64)]], // clock_getres_time64
  [78, [fixed(0, OUT | OPT, 8), fixed(1, OUT | OPT, 8)]], // gettimeofday
  [162, [fixed(0, IN, TIMESPEC32), fixed(1, OUT | OPT, TIMESPEC32)]], // nanosleep
  [265, [fixed(2, IN, TIMESPEC32), fixed(3, OUT | OPT, TIMESPEC32)]], // clock_nanosleep
  [407, [fixed(2, IN, TIMESPEC64), fixed(3, OUT | OPT, TIMESPEC64)]], // clock_nanosleep_time64
  [104, [fixed(1, IN | OPT, 16), fixed(2, OUT | OPT, 16)]], // setitimer
  [105, [fixed(1, OUT, 16)]], // getitimer
  [174, [fixed(1, IN | OPT, SIGACTION), fixed(2, OUT | OPT, SIGACTION)]], // rt_sigaction
  [175, [fixed(1, IN | OPT, SIGSET), fixed(2, OUT | OPT, SIGSET)]], // rt_sigprocmask
  [176, [fixed(0, OUT, SIGSET)]], // rt_sigpending
  [179, [fixed(0, IN, SIGSET)]], // rt_sigsuspend
  [186, [fixed(0, IN | OPT, STACK_T), fixed(1, OUT | OPT, STACK_T)]], // sigaltstack
  [114, [fixed(1, OUT | OPT, 4), fixed(3, OUT | OPT, 72)]], // wait4
  [140, [fixed(3, OUT, 8)]], // _llseek
]);

/** Strings longer than this are not scanned further (the kernel stops at PATH_MAX with ENAMETOOLONG). */
const STRING_SCAN_MAX = 65536;

/** True when `len` bytes at `addr` lie in pages with permission `bit` (len 0 always passes). */
export function rangeAccessible(mem: GuestMemory, addr: number, len: number, bit: number): boolean {
  if (len <= 0) return true;
  addr >>>= 0;
  const end = addr + len - 1;
  if (end > 0xffffffff) return false;
  const perm = mem.perm;
  for (let p = addr >>> PAGE_BITS, last = end >>> PAGE_BITS; p <= last; p++) if ((perm[p]! & bit) === 0) return false;
  return true;
}

/** True when a NUL-terminated string at `addr` is readable up to its NUL. */
function stringAccessible(mem: GuestMemory, addr: number): boolean {
  addr >>>= 0;
  const perm = mem.perm, u8 = mem.u8, size = mem.size;
  for (let a = addr, n = 0; n < STRING_SCAN_MAX; a++, n++) {
    if (a > 0xffffffff || (perm[a >>> PAGE_BITS]! & PERM_R) === 0 || a >= size) return false;
    if (u8[a] === 0) return true;
  }
  return true;
}

/**
 * How many iovec entries the call may use, or -1 for EFAULT: as in qemu-arm,
 * a bad first buffer is a fault, a later bad buffer ends the vector there
 * (a partial transfer).
 */
function usableIovEntries(mem: GuestMemory, iov: number, count: number, bit: number): number {
  const dv = mem.dv;
  for (let i = 0; i < count; i++) {
    const entry = (iov >>> 0) + i * 8;
    if (!rangeAccessible(mem, dv.getUint32(entry, true), dv.getUint32(entry + 4, true), bit)) return i === 0 ? -1 : i;
  }
  return count;
}

/**
 * False when a pointer argument of syscall `nr` points at memory the call may
 * not touch (the call then fails with EFAULT). `args` are its six arguments;
 * an iovec count is lowered to the entries that may be used.
 */
export function checkPointers(mem: GuestMemory, nr: number, args: number[]): boolean {
  const specs = SYSCALL_POINTERS.get(nr);
  if (specs === undefined) return true;
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i]!;
    const addr = args[s.arg]! >>> 0;
    if (addr === 0 && (s.kind & OPT) !== 0) continue;
    const kind = s.kind & ~OPT;
    if (kind === STR) {
      if (!stringAccessible(mem, addr)) return false;
      continue;
    }
    const count = s.lenArg >= 0 ? args[s.lenArg]! >>> 0 : 0;
    const len = s.size + s.scale * count;
    // A zero-length buffer is never touched, even at NULL (read(fd, NULL, 0) is fine).
    if (len === 0) continue;
    const arrayBit = kind === IN || kind === IOV_IN || kind === IOV_OUT ? PERM_R : PERM_W; // the kernel reads an iovec array
    if (addr === 0 || !rangeAccessible(mem, addr, len, arrayBit)) return false;
    if (kind === IOV_IN || kind === IOV_OUT) {
      const usable = usableIovEntries(mem, addr, count, kind === IOV_IN ? PERM_R : PERM_W);
      if (usable < 0) return false;
      args[s.lenArg] = usable;
    }
  }
  return true;
}
