import * as os from 'node:os';
import { S } from '@tsemu/target-arm';
import { pageAlignUp } from './address-space.js';
import { hostFileOfFd } from './mapped-files.js';
import { E, GuestExit } from './errno.js';
import { writeUtsname } from './structs.js';
import { RESTART_SYSCALL, SI } from './signals.js';
import { hostProc } from '@tsemu/host-io';
import { realProcesses } from './host-processes.js';
import type { LinuxProcess } from './process.js';
import { SYSCALL_NAMES } from './syscall-names.js';
import { checkPointers } from './syscall-pointers.js';
import { fillRandom } from './random.js';
import * as fs from 'node:fs';

const AT_FDCWD = -100;
/** Returned by handlers that set the registers themselves (rt_sigreturn). */
const NO_RETURN = Symbol('no-return');
type Handler = (a: number, b: number, c: number, d: number, e: number, f: number) => number | typeof NO_RETURN;

/** The ARM EABI system-call table: number in r7, arguments in r0-r5, result in r0. */
export class Syscalls {
  private table = new Map<number, Handler>();
  private startNs = process.hrtime.bigint();

  constructor(private p: LinuxProcess) {
    const f = p.fs, m = p.mem, as = p.as, dv = m.dv, sig = p.signals;
    const t = this.table;
    const exit = (code: number): never => { throw new GuestExit(code & 0xff); };
    t.set(1, (a) => exit(a));
    t.set(248, (a) => exit(a));
    t.set(3, (fd, buf, n) => f.read(fd, buf, n));
    t.set(4, (fd, buf, n) => f.write(fd, buf, n));
    t.set(145, (fd, iov, n) => f.vector(fd, iov, n, false));
    t.set(146, (fd, iov, n) => f.vector(fd, iov, n, true));
    t.set(5, (path, flags, mode) => f.openat(AT_FDCWD, path, flags, mode));
    t.set(322, (dirfd, path, flags, mode) => f.openat(dirfd, path, flags, mode));
    t.set(6, (fd) => f.close(fd));
    t.set(19, (fd, off, wh) => f.seek(fd, off, wh));
    t.set(140, (fd, hi, lo, res, wh) => f.llseek(fd, hi, lo, res, wh));
    t.set(54, (fd, req, arg) => f.ioctl(fd, req >>> 0, arg));
    t.set(195, (path, buf) => f.fstatat(AT_FDCWD, path, buf, 0));
    t.set(196, (path, buf) => f.fstatat(AT_FDCWD, path, buf, 0x100));
    t.set(197, (fd, buf) => f.fstat(fd, buf));
    t.set(327, (dirfd, path, buf, flags) => f.fstatat(dirfd, path, buf, flags));
    t.set(397, (dirfd, path, flags, _mask, buf) => f.statx(dirfd, path, flags, buf));
    t.set(217, (fd, buf, n) => f.getdents64(fd, buf, n));
    t.set(85, (path, buf, n) => f.readlinkat(AT_FDCWD, path, buf, n));
    t.set(332, (dirfd, path, buf, n) => f.readlinkat(dirfd, path, buf, n));
    t.set(33, (path, mode) => f.faccessat(AT_FDCWD, path, mode));
    t.set(334, (dirfd, path, mode) => f.faccessat(dirfd, path, mode));
    t.set(439, (dirfd, path, mode) => f.faccessat(dirfd, path, mode));
    t.set(10, (path) => f.unlinkat(AT_FDCWD, path, 0));
    t.set(328, (dirfd, path, flags) => f.unlinkat(dirfd, path, flags));
    t.set(40, (path) => f.unlinkat(AT_FDCWD, path, 0x200));
    t.set(39, (path, mode) => f.mkdirat(AT_FDCWD, path, mode));
    t.set(323, (dirfd, path, mode) => f.mkdirat(dirfd, path, mode));
    t.set(38, (o, n) => f.renameat(AT_FDCWD, o, AT_FDCWD, n));
    t.set(329, (od, o, nd, n) => f.renameat(od, o, nd, n));
    t.set(12, (path) => f.chdir(path));
    t.set(183, (buf, size) => f.getcwd(buf, size));
    t.set(41, (fd) => f.dup(fd));
    t.set(60, (mask) => process.umask(mask & 0o777));
    t.set(221, (fd, cmd, arg) => f.fcntl(fd, cmd, arg));
    t.set(55, (fd, cmd, arg) => f.fcntl(fd, cmd, arg));
    t.set(63, (fd, nfd) => f.dup2(fd, nfd));
    t.set(358, (fd, nfd, fl) => (fd === nfd ? -E.EINVAL : f.dup2(fd, nfd, fl)));
    t.set(118, () => 0); // fsync
    t.set(148, () => 0); // fdatasync

    // Memory.
    t.set(45, (addr) => as.setBrk(addr));
    t.set(192, (addr, len, prot, flags, fd, pgoff) => this.mmap(addr, len, prot, flags, fd, pgoff * 4096));
    t.set(91, (addr, len) => {
      if (addr & 0xfff || len === 0) return -E.EINVAL;
      as.unmap(addr, pageAlignUp(len >>> 0));
      p.cpu.cache.invalidateRange(addr, addr + pageAlignUp(len >>> 0));
      return 0;
    });
    t.set(125, (addr, len, prot) => this.mprotect(addr, len, prot))
    t.set(220, () => 0); // madvise
    t.set(163, (old, oldLen, newLen, flags) => this.mremap(old, oldLen, newLen, flags));
    t.set(0xf0002, (start, end) => { p.cpu.cache.invalidateRange(start, end); return 0; }); // cacheflush
    t.set(0xf0005, (tls) => { p.cpu.state.regs[S.TLS] = tls; return 0; }); // set_tls

    // Processes: fork runs the child first (see fork.ts).
    const procs = p.procs;
    t.set(2, () => procs.fork(0, 0));
    t.set(190, () => procs.fork(0, 0));
    t.set(120, (flags, sp, ptid, tls, ctid) => procs.fork(flags, ctid, ptid, sp, tls));
    t.set(114, (pid, st, opts, ru) => procs.wait4(pid, st, opts, ru));
    t.set(11, (path, argv, envp) => {
      const r = procs.execve(path, argv, envp);
      if (typeof r === 'number') return r;
      throw new GuestExit(r.status & 0x7f ? 128 + (r.status & 0x7f) : r.status >> 8, r.status & 0x7f);
    });
    t.set(42, (fds) => f.pipe2(fds));
    t.set(359, (fds, fl) => f.pipe2(fds, fl));
    t.set(168, (fds, n, ms) => f.poll(fds, n, ms)); // poll
    t.set(336, (fds, n, ts) => f.poll(fds, n, ts ? dv.getInt32(ts, true) * 1000 + Math.ceil(dv.getInt32(ts + 4, true) / 1e6) : -1)); // ppoll
    t.set(414, (fds, n, ts) => f.poll(fds, n, ts ? Number(dv.getBigInt64(ts, true)) * 1000 + Math.ceil(Number(dv.getBigInt64(ts + 8, true)) / 1e6) : -1)); // ppoll_time64
    t.set(20, () => procs.pid);
    t.set(224, () => procs.pid);
    t.set(64, () => procs.ppid());
    t.set(199, () => process.getuid?.() ?? 0);
    t.set(201, () => process.geteuid?.() ?? 0);
    t.set(200, () => process.getgid?.() ?? 0);
    t.set(202, () => process.getegid?.() ?? 0);
    t.set(256, () => procs.pid); // set_tid_address
    t.set(338, () => 0); // set_robust_list
    t.set(398, () => -E.ENOSYS); // rseq
    t.set(172, () => 0); // prctl
    t.set(240, (_addr, op) => ((op & 0x7f) === 0 ? -E.EAGAIN : 0)); // futex: one thread, nobody to wait for
    t.set(158, () => 0); // sched_yield
    t.set(122, (buf) => { writeUtsname(m.u8, buf, ['Linux', os.hostname(), os.release(), '#1 SMP', 'armv7l', '(none)']); return 0; });
    t.set(191, (res, buf) => this.getrlimit(res, buf, false));
    t.set(369, (_pid, res, newp, old) => (old ? this.getrlimit(res, old, true) : 0));
    t.set(116, (buf) => {
      m.fill(buf, 64);
      dv.setUint32(buf, Math.floor(os.uptime()), true);
      dv.setUint32(buf + 16, Math.min(os.totalmem(), 0xffffffff) >>> 0, true);
      dv.setUint32(buf + 20, Math.min(os.freemem(), 0xffffffff) >>> 0, true);
      dv.setUint16(buf + 40, 1, true);
      dv.setUint32(buf + 52, 1, true);
      return 0;
    });
    t.set(384, (buf, len) => { fillRandom(m.u8, buf >>> 0, len >>> 0); return len; });

    // Time.
    t.set(263, (clk, ts) => this.clockGettime(clk, ts, false));
    t.set(403, (clk, ts) => this.clockGettime(clk, ts, true));
    t.set(264, (_clk, ts) => { if (ts) { dv.setUint32(ts, 0, true); dv.setUint32(ts + 4, 1, true); } return 0; });
    t.set(406, (_clk, ts) => { if (ts) { dv.setBigInt64(ts, 0n, true); dv.setBigInt64(ts + 8, 1n, true); } return 0; });
    t.set(78, (tv) => {
      const now = Date.now();
      if (tv) { dv.setUint32(tv, Math.floor(now / 1000), true); dv.setUint32(tv + 4, (now % 1000) * 1000, true); }
      return 0;
    });
    t.set(162, (req, rem) => this.sleep(1, 0, req, rem, false)); // nanosleep
    t.set(265, (clk, fl, req, rem) => this.sleep(clk, fl, req, rem, false)); // clock_nanosleep
    t.set(407, (clk, fl, req, rem) => this.sleep(clk, fl, req, rem, true)); // clock_nanosleep_time64
    t.set(29, () => this.pause());
    t.set(104, (which, nv, ov) => this.itimer(which, nv, ov)); // setitimer
    t.set(105, (which, ov) => this.itimer(which, 0, ov)); // getitimer

    // Signals.
    t.set(174, (s, act, oact) => sig.sigaction(s, act, oact));
    t.set(175, (how, set, oset) => sig.sigprocmask(how, set, oset));
    t.set(186, (ss, old) => sig.sigaltstack(ss, old));
    t.set(176, (set) => { dv.setBigUint64(set >>> 0, sig.pending & sig.blocked, true); return 0; }); // rt_sigpending
    t.set(173, () => { sig.sigreturn(true); return NO_RETURN; });
    t.set(179, (mask) => { // rt_sigsuspend: a signal we sent ourselves may already be waiting
      if (!sig.suspendWithPending(dv.getBigUint64(mask >>> 0, true))) procs.sigsuspend(mask);
      return NO_RETURN;
    });
    t.set(119, () => { sig.sigreturn(false); return NO_RETURN; }); // sigreturn: a frame without siginfo
    t.set(37, (target, s) => this.killSelf(target, s, SI.USER));
    t.set(238, (target, s) => this.killSelf(target, s, SI.TKILL));
    t.set(268, (_tg, target, s) => this.killSelf(target, s, SI.TKILL));
  }

  dispatch(): void {
    const r = this.p.cpu.state.regs;
    const nr = r[7]! >>> 0;
    const h = this.table.get(nr);
    const args = [r[0]!, r[1]!, r[2]!, r[3]!, r[4]!, r[5]!];
    if (!h) {
      if (this.p.strace) this.p.log(`${process.pid} ${SYSCALL_NAMES[nr] ?? `syscall_${nr}`}(...) = -1 errno=${E.ENOSYS} (Function not implemented)`);
      r[0] = -E.ENOSYS;
      return;
    }
    let res: number | typeof NO_RETURN;
    try {
      res = checkPointers(this.p.mem, nr, args) ? h(args[0]!, args[1]!, args[2]!, args[3]!, args[4]!, args[5]!) : -E.EFAULT;
    } catch (e) {
      if (e instanceof GuestExit && this.p.strace) this.p.log(`${process.pid} ${SYSCALL_NAMES[nr] ?? nr}(${args[0]})`);
      throw e;
    }
    if (res === NO_RETURN) return;
    // Interrupted, and the handler about to run has SA_RESTART: back to the svc, r0 as it was, so it runs again after the handler.
    if (res === RESTART_SYSCALL) { r[15] = r[15]! - (r[S.THUMB] ? 2 : 4); if (this.p.strace) this.p.log(`${process.pid} ${SYSCALL_NAMES[nr] ?? nr}(...) = ? (restarted)`); return; }
    if (this.p.strace) {
      const shown = res < 0 && res > -4096 ? `-1 errno=${-res}` : `${res >>> 0 > 0xffff ? '0x' + (res >>> 0).toString(16) : res}`;
      this.p.log(`${process.pid} ${SYSCALL_NAMES[nr] ?? `syscall_${nr}`}(${args.slice(0, 4).map((a) => '0x' + (a >>> 0).toString(16)).join(',')}) = ${shown}`);
    }
    r[0] = res;
  }

  /** mprotect: page protections are enforced by the generated code (SIGSEGV on a violation). */
  private mprotect(addr: number, len: number, prot: number): number {
    const as = this.p.as;
    if (addr & 0xfff || prot & ~(7 | 0x01000000 | 0x02000000)) return -E.EINVAL;
    const size = pageAlignUp(len >>> 0);
    if (size === 0) return 0;
    if (!as.protect(addr, size, prot & 7)) return -E.ENOMEM;
    // Translations of code that is no longer executable must not run again.
    if (!(prot & 4)) this.p.cpu.cache.invalidateRange(addr, addr + size);
    return 0;
  }

  private mmap(addr: number, len: number, prot: number, flags: number, fd: number, off: number): number {
    const as = this.p.as, MAP_FIXED = 0x10, MAP_ANON = 0x20;
    if (len === 0) return -E.EINVAL;
    const size = pageAlignUp(len >>> 0);
    let at: number;
    if (flags & MAP_FIXED) {
      if (addr & 0xfff || !as.fits(addr, size)) return -E.EINVAL;
      at = addr >>> 0;
    } else {
      at = as.findFree(size, addr && !(addr & 0xfff) ? addr : 0);
      if (at < 0) return -E.ENOMEM;
    }
    as.map(at, size, prot & 7);
    this.p.mem.fill(at, size);
    if (!(flags & MAP_ANON) && fd >= 0) {
      try {
        const host = this.p.fs.host(fd);
        if (host < 0) throw new Error('EBADF');
        fs.readSync(host, this.p.mem.u8, at, Math.min(len >>> 0, this.p.mem.size - at), off);
        // /proc/self/maps names the file (its contents were copied in: a private mapping).
        if ((off & 0xfff) === 0) as.files.set(at >>> 12, size >>> 12, as.files.fileIndex(hostFileOfFd(host)), off / 4096);
      } catch {
        as.unmap(at, size);
        return -E.EBADF;
      }
    }
    this.p.cpu.cache.invalidateRange(at, at + size);
    return at | 0;
  }

  private mremap(old: number, oldLen: number, newLen: number, flags: number): number {
    const as = this.p.as, MREMAP_MAYMOVE = 1;
    const oldSize = pageAlignUp(oldLen >>> 0), newSize = pageAlignUp(newLen >>> 0);
    const prot = Math.max(as.protOf(old), 0);
    if (newSize <= oldSize) { as.unmap(old + newSize, oldSize - newSize); return old; }
    let free = true;
    for (let a = old + oldSize; a < old + newSize; a += 4096) if (as.isMapped(a)) { free = false; break; }
    if (free && as.fits(old, newSize)) { as.map(old + oldSize, newSize - oldSize, prot); this.p.mem.fill(old + oldSize, newSize - oldSize); return old; }
    if (!(flags & MREMAP_MAYMOVE)) return -E.ENOMEM;
    const at = as.findFree(newSize);
    if (at < 0) return -E.ENOMEM;
    as.map(at, newSize, prot);
    as.files.move((old >>> 0) >>> 12, at >>> 12, oldSize >>> 12);
    this.p.mem.u8.copyWithin(at, old >>> 0, (old >>> 0) + oldSize);
    this.p.mem.fill(at + oldSize, newSize - oldSize);
    as.unmap(old, oldSize);
    return at;
  }

  private getrlimit(res: number, buf: number, wide: boolean): number {
    const dv = this.p.mem.dv;
    const INF = 0xffffffffffffffffn;
    const [cur, max] = res === 3 ? [8n << 20n, INF] : res === 7 ? [1024n, 1048576n] : [INF, INF];
    if (wide) { dv.setBigUint64(buf, cur, true); dv.setBigUint64(buf + 8, max, true); }
    else { dv.setUint32(buf, Number(cur > 0xffffffffn ? 0xffffffffn : cur), true); dv.setUint32(buf + 4, Number(max > 0xffffffffn ? 0xffffffffn : max), true); }
    return 0;
  }

  private clockGettime(clk: number, ts: number, wide: boolean): number {
    const dv = this.p.mem.dv;
    let ns: bigint;
    if (clk === 0 || clk === 5 || clk === 8 || clk === 11) ns = BigInt(Date.now()) * 1000000n;
    else if (clk === 2 || clk === 3) ns = process.hrtime.bigint() - this.startNs;
    else ns = process.hrtime.bigint();
    const sec = ns / 1000000000n, nsec = ns % 1000000000n;
    if (wide) { dv.setBigInt64(ts, sec, true); dv.setBigInt64(ts + 8, nsec, true); }
    else { dv.setUint32(ts, Number(sec & 0xffffffffn), true); dv.setUint32(ts + 4, Number(nsec), true); }
    return 0;
  }

  /** Milliseconds on `clk` (CLOCK_REALTIME and its kin: wall time; the rest: the monotonic clock). */
  private clockMs(clk: number): number {
    return clk === 0 || clk === 5 || clk === 8 || clk === 11 ? Date.now() : Number(process.hrtime.bigint()) / 1e6;
  }

  /**
   * nanosleep / clock_nanosleep (flags 1: TIMER_ABSTIME). With host processes
   * it sleeps on the addon's wake-up pipe, so a caught signal ends it early:
   * -EINTR and the time left in `rem` (relative sleeps). Linux never restarts
   * a sleep a handler interrupted, SA_RESTART or not (ERESTART_RESTARTBLOCK).
   */
  private sleep(clk: number, flags: number, req: number, rem: number, wide: boolean): number {
    const dv = this.p.mem.dv;
    const sec = wide ? Number(dv.getBigInt64(req, true)) : dv.getInt32(req, true);
    const nsec = wide ? Number(dv.getBigInt64(req + 8, true)) : dv.getInt32(req + 4, true);
    if (sec < 0 || nsec < 0 || nsec >= 1e9) return -E.EINVAL;
    const abs = (flags & 1) !== 0, want = sec * 1e3 + nsec / 1e6;
    const deadline = abs ? want : this.clockMs(clk) + want;
    if (!realProcesses || hostProc.watchChildren() < 0) {
      const ms = deadline - this.clockMs(clk);
      if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
      return 0;
    }
    for (;;) {
      const left = deadline - this.clockMs(clk);
      if (left <= 0) return 0;
      hostProc.waitChildEvent(Math.ceil(left));
      this.p.procs.afterSyscall();
      if (this.p.signals.interruption(false) === 0) continue;
      if (rem && !abs) {
        const ns = Math.max(0, Math.round((deadline - this.clockMs(clk)) * 1e6));
        const rs = Math.floor(ns / 1e9), rn = ns % 1e9;
        if (wide) { dv.setBigInt64(rem, BigInt(rs), true); dv.setBigInt64(rem + 8, BigInt(rn), true); }
        else { dv.setInt32(rem, rs, true); dv.setInt32(rem + 4, rn, true); }
      }
      return -E.EINTR;
    }
  }

  /**
   * setitimer / getitimer: the host's timers (host processes only), so an
   * ITIMER_REAL's SIGALRM reaches the guest's handler, or kills us by SIGALRM
   * under the default action, as it would a native process.
   */
  private itimer(which: number, nv: number, ov: number): number {
    if (!realProcesses || !hostProc.signals) return -E.ENOSYS;
    const dv = this.p.mem.dv, next = nv ? new Int32Array(4) : null, old = new Int32Array(4);
    if (next) for (let i = 0; i < 4; i++) next[i] = dv.getInt32(nv + 4 * i, true);
    const r = hostProc.itimer(which, next, old);
    if (r === 0 && ov) for (let i = 0; i < 4; i++) dv.setInt32(ov + 4 * i, old[i]!, true);
    return r;
  }

  /** pause(2): until a signal with a handler arrives (then -EINTR), or one that kills us. */
  private pause(): number {
    const sig = this.p.signals;
    if (realProcesses) hostProc.watchChildren();
    for (;;) {
      this.p.procs.afterSyscall();
      if (sig.interruption(false) !== 0) return -E.EINTR;
      if (!realProcesses) return -E.EINTR; // nobody else can signal us: as if woken
      hostProc.waitChildEvent(-1);
    }
  }

  private killSelf(target: number, s: number, code: number): number {
    if (target !== this.p.procs.pid && target !== 0 && target !== -1) return this.p.procs.kill(target, s); // another process
    if (s < 0 || s > 64) return -E.EINVAL;
    // Pending until unblocked; delivered when the system call returns (a handler returns after the svc).
    this.p.signals.send(s, { code, pid: this.p.procs.pid, uid: process.getuid?.() ?? 0 });
    return 0;
  }
}
