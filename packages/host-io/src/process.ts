// Process and descriptor calls for user-mode emulation of a guest that forks
// (native/proc.c): pipe2, lseek, fcntl, memfd, posix_spawn with placed
// descriptors, waitpid and a SIGCHLD counter. Node has none of them. Results
// are >= 0 or -errno (Linux numbering); when the addon is not built
// `hostProc.available` is false and linux-user keeps its sequential processes.
import { createRequire } from 'node:module';

interface NativeProc {
  pipe2(flags: number): [number, number] | number;
  lseek(fd: number, offset: number, whence: number): number;
  fcntl(fd: number, cmd: number, arg: number): number;
  memfd(): number;
  spawn(path: string, argv: readonly string[], envp: readonly string[], fds: Int32Array, signals?: Int32Array): number;
  waitpid(pid: number, options: number, status: Int32Array): number;
  watchChildren(counter: Int32Array): number;
  waitChildEvent(timeoutMs: number): number;
  defaultSignal(sig: number): number;
  watchSignals(pending: Int32Array): number;
  setSignal(sig: number, mode: number): number;
  read(fd: number, buf: Uint8Array, offset: number, length: number): number;
  itimer?(which: number, next: Int32Array | null, old: Int32Array): number;
  poll(fds: Int32Array, timeoutMs: number): number;
  isatty?(fd: number): number;
}

function load(): NativeProc | null {
  const req = createRequire(import.meta.url);
  // From src/ (a checkout) the addon is in ../build; a bundled app keeps a copy next to itself.
  for (const p of ['../build/proc.node', './proc.node']) {
    try { return req(p) as NativeProc; } catch { /* next */ }
  }
  return null;
}

const native = load();
const ENOSYS = -38;

/** Counts SIGCHLDs once watchChildren() ran: compare with a saved value, one typed-array read. */
export const childSignals = new Int32Array(1);
let watching = false;

/**
 * Signals caught for the guest (setSignal mode SIGNAL_CATCH): word 0 has bit
 * sig-1 set by the host handler (one typed-array read tells whether any
 * arrived; take them with Atomics.exchange), words 1 + sig and 33 + sig the
 * sender's pid and uid. Real-time signals (33-64): bit 31 of word 0 says
 * "some arrived", word CAUGHT_RT has bit sig-33, and words CAUGHT_RT + 1, + 33,
 * + 65, + 97 (each + sig-33) the sender's pid, uid, si_code and si_value.
 */
export const CAUGHT_RT = 65;
export const caughtSignals = new Int32Array(CAUGHT_RT + 129);
let watchingSignals = false;
export const SIGNAL_DEFAULT = 0, SIGNAL_IGNORE = 1, SIGNAL_CATCH = 2;

export const hostProc = {
  /** The addon loaded: real pipes, spawn and waitpid. */
  available: native !== null,
  /** The loaded addon has setSignal / read (signals for guest handlers, interruptible reads). */
  signals: native !== null && typeof native.setSignal === 'function' && typeof native.read === 'function',
  /** pipe2(2); host ends are always close-on-exec. [read, write] or -errno. */
  pipe2(flags: number): [number, number] | number {
    return native ? native.pipe2(flags) : ENOSYS;
  },
  /**
   * isatty(3): whether the host fd is a terminal; undefined without the addon
   * (or an older build of it). Node's own tty.isatty loads node:tty and with
   * it node:net, ~2.5 ms of every start-up.
   */
  isatty(fd: number): boolean | undefined {
    return native?.isatty ? native.isatty(fd) === 1 : undefined;
  },
  /** lseek(2) on the kernel's offset; new offset or -errno. */
  lseek(fd: number, offset: number, whence: number): number {
    return native ? native.lseek(fd, offset, whence) : ENOSYS;
  },
  /** fcntl(2) with an integer argument (F_GETFL 3, F_SETFL 4, F_GETFD 1, F_SETFD 2). */
  fcntl(fd: number, cmd: number, arg: number): number {
    return native ? native.fcntl(fd, cmd, arg) : ENOSYS;
  },
  /** An anonymous close-on-exec file (memfd_create). */
  memfd(): number {
    return native ? native.memfd() : ENOSYS;
  },
  /**
   * posix_spawn: `fds` holds [childFd, ourFd] pairs, exactly those are open in
   * the child; dispositions and mask start at their defaults, or, with
   * `signals` = [defaultLo, defaultHi, maskLo, maskHi] (bit sig-1), only the
   * listed signals are reset (an ignored one stays ignored, as across execve)
   * and the mask is the given one. pid or -errno.
   */
  spawn(path: string, argv: readonly string[], envp: readonly string[], fds: Int32Array, signals?: Int32Array): number {
    if (!native) return ENOSYS;
    return signals ? native.spawn(path, argv, envp, fds, signals) : native.spawn(path, argv, envp, fds);
  },
  /** waitpid(2): pid with status[0] set, 0 (WNOHANG, nothing yet), or -errno. */
  waitpid(pid: number, options: number, status: Int32Array): number {
    return native ? native.waitpid(pid, options, status) : ENOSYS;
  },
  /** Install the SIGCHLD counter (childSignals[0]); idempotent. */
  watchChildren(): number {
    if (!native) return ENOSYS;
    if (watching) return 0;
    watching = true;
    return native.watchChildren(childSignals);
  },
  /**
   * The host disposition of `sig` (1-31 or SIGRTMIN-SIGRTMAX, 34-64 under glibc;
   * not SIGSEGV/BUS/ILL/FPE/TRAP/KILL/STOP/CHLD):
   * SIGNAL_DEFAULT, SIGNAL_IGNORE or SIGNAL_CATCH (recorded in caughtSignals, no
   * SA_RESTART, wakes waitChildEvent). 0 or -errno.
   */
  setSignal(sig: number, mode: number): number {
    if (!native || !native.setSignal) return ENOSYS;
    if (mode === SIGNAL_CATCH && !watchingSignals) {
      const r = native.watchSignals(caughtSignals);
      if (r < 0) return r;
      watchingSignals = true;
    }
    return native.setSignal(sig, mode);
  },
  /**
   * setitimer(2) (`next` given) or getitimer(2): [interval sec, usec, value sec, usec];
   * the previous / current setting goes into `old`. 0 or -errno.
   */
  itimer(which: number, next: Int32Array | null, old: Int32Array): number {
    return native && native.itimer ? native.itimer(which, next, old) : ENOSYS;
  },
  /** read(2) into buf[offset..]: bytes or -errno; -EINTR (4) when a caught signal arrived while it blocked. */
  read(fd: number, buf: Uint8Array, offset: number, length: number): number {
    return native && native.read ? native.read(fd, buf, offset, length) : ENOSYS;
  },
  /** Sleep until a SIGCHLD or caught signal since the last call, or `timeoutMs` (-1: no limit). */
  waitChildEvent(timeoutMs: number): number {
    return native ? native.waitChildEvent(timeoutMs) : ENOSYS;
  },
  /** poll(2): `fds` holds [fd, events, revents] triples; revents are filled in. Ready count or -errno. */
  poll(fds: Int32Array, timeoutMs: number): number {
    return native ? native.poll(fds, timeoutMs) : ENOSYS;
  },
  /** Reset a signal to SIG_DFL and unblock it (before dying of it: Node ignores SIGPIPE). */
  defaultSignal(sig: number): number {
    return native ? native.defaultSignal(sig) : ENOSYS;
  },
};
