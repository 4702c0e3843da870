import { closeSync, openSync, readFileSync, readSync, statSync, existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { childSignals, hostProc } from '@tsemu/host-io';
import { S } from '@tsemu/target-arm';
import { ElfError, parseElf } from './elf.js';
import { E, GuestExit } from './errno.js';
import { FORK_STATE_ENV, forkSlots, writeForkState } from './fork-state.js';
import type { GuestProcesses } from './fork.js';
import { loadElf } from './loader.js';
import { hostFile } from './mapped-files.js';
import { SI } from './signals.js';
import type { LinuxProcess } from './process.js';

/** Real processes unless the native addon is missing or TSEMU_SEQUENTIAL_FORK=1 asks for the pure-JS fallback. */
export const realProcesses = hostProc.available && process.env.TSEMU_SEQUENTIAL_FORK !== '1';

const CLONE_VM = 0x100, CLONE_VFORK = 0x4000, CLONE_SETTLS = 0x80000, CLONE_PARENT_SETTID = 0x00100000, CLONE_CHILD_SETTID = 0x01000000;
const SIGCHLD = 17, SIG_DFL = 0, SIG_IGN = 1, CLD_EXITED = 1, WNOHANG = 1, F_SETFD = 2, FD_CLOEXEC = 1, POLLIN = 1;
/**
 * A forked child's start-up: a new Node process resets every signal to its
 * default before our code runs, so until the child has restored the guest's
 * dispositions a signal would kill it even if the guest ignores it. The child
 * tells its parent it runs once it has made a few system calls (or one that
 * may block, execs, forks or exits): what the guest does right after fork,
 * like a background job ignoring SIGINT, is then in place, as it practically
 * always is on a kernel where the child runs at once. kill() from the parent
 * waits for that (at most STARTUP_WAIT_MS).
 */
const READY_AFTER_SYSCALLS = 8, STARTUP_WAIT_MS = 2000;
/** exit, fork, read, write, execve, pause, wait4, clone, readv, writev, nanosleep, poll, rt_sigsuspend, vfork, exit_group, clock_nanosleep(64), ppoll(64). */
const READY_AT = new Set([1, 2, 3, 4, 11, 29, 114, 120, 145, 146, 162, 168, 179, 190, 248, 265, 336, 407, 414]);

/**
 * Guest processes as host processes. fork spawns another tsemu-arm (the same
 * command line that started this one) with the guest's descriptors placed at
 * their numbers and the rest of the state in a memfd (fork-state.ts); it
 * resumes after the fork with r0 = 0 while we go on with its real pid.
 * wait4 is the host's waitpid; execve reloads the new ARM program in this
 * emulator (same pid) or hands over to a host program; SIGCHLD, SIGPIPE are
 * queued and delivered after the system call that saw them.
 */
export class HostProcesses implements GuestProcesses {
  readonly pid = process.pid;
  readonly inChild = false;
  private seenChld = 0;
  private readonly status = new Int32Array(1);
  /** Guest children not yet reaped. */
  private readonly children = new Set<number>();
  private readonly self: string[];
  /** Children still starting up -> the read end of the pipe they close when they run (see READY_AFTER_SYSCALLS). */
  private readonly starting = new Map<number, number>();
  /** In a forked child: system calls left before it tells its parent it runs (0: told). */
  startup = 0;
  private readyFd = -1;

  constructor(private p: LinuxProcess, selfCommand?: readonly string[]) {
    this.self = selfCommand ? [...selfCommand] : [process.execPath, ...process.execArgv, process.argv[1] ?? ''];
    // Absolute now, before the guest can chdir: children are started with it and /proc/self/exe reads it.
    (p as { exePath: string }).exePath = resolvePath(p.exePath);
  }

  ppid(): number { return process.ppid; }

  childExit(): void { /* children are separate processes */ }

  childStarted(readyFd: number): void {
    hostProc.fcntl(readyFd, F_SETFD, FD_CLOEXEC); // never inherited by what we spawn
    this.readyFd = readyFd;
    this.startup = READY_AFTER_SYSCALLS;
  }

  startupSyscall(nr: number): void {
    if (--this.startup !== 0 && !READY_AT.has(nr)) return;
    this.startup = 0;
    if (this.readyFd >= 0) closeSync(this.readyFd);
    this.readyFd = -1;
  }

  fork(flags: number, ctid: number, ptid = 0, sp = 0, tls = 0): number {
    if ((flags & CLONE_VM) && !(flags & CLONE_VFORK)) return -E.EAGAIN; // threads: not yet
    hostProc.watchChildren();
    const memfd = hostProc.memfd();
    if (memfd < 0) return -E.EAGAIN;
    const ready = hostProc.pipe2(0);
    try {
      const { slotOf, pairs } = forkSlots(this.p.fs.fds);
      // The child's own stack (glibc's posix_spawn clones onto one) and TLS go into its registers only.
      const regs = this.p.cpu.state.regs, oldSp = regs[S.SP]!, oldTls = regs[S.TLS]!;
      if (sp) regs[S.SP] = sp;
      if (flags & CLONE_SETTLS) regs[S.TLS] = tls;
      try { writeForkState(this.p, memfd, slotOf, flags & CLONE_CHILD_SETTID ? ctid : 0); } finally { regs[S.SP] = oldSp; regs[S.TLS] = oldTls; }
      let stateSlot = 3;
      for (let i = 0; i < pairs.length; i += 2) stateSlot = Math.max(stateSlot, pairs[i]! + 1);
      pairs.push(stateSlot, memfd);
      if (typeof ready !== 'number') pairs.push(stateSlot + 1, ready[1]);
      const o = this.p.opts, args = [...this.self];
      if (this.p.strace) args.push('-strace');
      if (this.p.sysroot) args.push('-L', this.p.sysroot);
      if (o.interpret) args.push('-interp');
      if (o.logUnimp) args.push('-d', 'unimp');
      args.push(this.p.exePath);
      const env = Object.entries(process.env).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
      env.push(`${FORK_STATE_ENV}=${stateSlot}${typeof ready !== 'number' ? `:${stateSlot + 1}` : ''}`);
      const pid = hostProc.spawn(args[0]!, args, env, Int32Array.from(pairs));
      if (pid < 0) return -E.EAGAIN;
      this.children.add(pid);
      if (typeof ready !== 'number') { this.starting.set(pid, ready[0]); ready[0] = -1; }
      if (flags & CLONE_PARENT_SETTID && ptid) this.p.mem.dv.setInt32(ptid >>> 0, pid, true);
      return pid;
    } finally {
      closeSync(memfd);
      if (typeof ready !== 'number') { closeSync(ready[1]); if (ready[0] >= 0) closeSync(ready[0]); }
    }
  }

  /** A child we forked is still starting: wait until it runs with the guest's dispositions (or has died). */
  private awaitStarted(pid: number): void {
    const fd = this.starting.get(pid);
    if (fd === undefined) return;
    this.starting.delete(pid);
    hostProc.poll(Int32Array.of(fd, POLLIN, 0), STARTUP_WAIT_MS); // EOF: it closed its end or exited
    closeSync(fd);
  }

  wait4(pid: number, wstatus: number, options: number, rusage = 0): number {
    // Only the guest's own children: Node may have helpers of its own (an esbuild service under tsx).
    if (pid > 0 ? !this.children.has(pid) : this.children.size === 0) return -E.ECHILD;
    let r: number;
    for (;;) {
      // WNOHANG, then sleep on the addon's wake-up pipe: a caught signal interrupts the wait (EINTR or restart).
      r = hostProc.waitpid(pid, options | WNOHANG, this.status);
      if (r > 0 && !this.children.has(r)) continue;
      if (r !== 0 || options & WNOHANG) break;
      this.afterSyscall();
      const intr = this.p.signals.interruption();
      if (intr !== 0) return intr;
      hostProc.waitChildEvent(-1);
    }
    if (r > 0) { this.children.delete(r); this.forgetStarting(r); }
    if (r > 0 && wstatus) this.p.mem.dv.setInt32(wstatus >>> 0, this.status[0]!, true);
    if (r > 0 && rusage) this.p.mem.fill(rusage >>> 0, 72);
    return r;
  }

  private forgetStarting(pid: number): void {
    const fd = this.starting.get(pid);
    if (fd !== undefined) { this.starting.delete(pid); closeSync(fd); }
  }

  /** kill(2) to another process (ourselves is Syscalls' business); a child still starting up gets it once it runs. */
  kill(pid: number, sig: number): number {
    if (sig !== 0 && pid > 0) this.awaitStarted(pid);
    try { process.kill(pid, sig); return 0; } catch (e) {
      const code = (e as { code?: string }).code;
      return code === 'ESRCH' ? -E.ESRCH : code === 'EPERM' ? -E.EPERM : -E.EINVAL;
    }
  }

  /** A system call saw a condition that raises `sig` (EPIPE: SIGPIPE); pending, so delivered after it returns. */
  raise(sig: number): void {
    this.p.signals.send(sig, { code: SI.KERNEL });
    this.p.signals.forgetHost(sig); // the host's own SIGPIPE for the same write, if the addon caught it
  }

  /** SIGCHLDs the host gave us since the last look become pending guest SIGCHLDs (dropped while ignored). */
  private collectChildren(): void {
    if (childSignals[0] === this.seenChld) return;
    this.seenChld = childSignals[0]!;
    this.p.signals.send(SIGCHLD, { code: CLD_EXITED });
  }

  /** After every system call: SIGCHLDs become pending (the run loop then delivers what is pending and unblocked). */
  afterSyscall(): void {
    this.collectChildren();
    this.p.signals.collectHost();
  }

  /** rt_sigsuspend: wait with `mask` until a signal that is not ignored arrives; r0 = -EINTR. */
  sigsuspend(maskAddr: number): void {
    const sig = this.p.signals, mask = this.p.mem.dv.getBigUint64(maskAddr >>> 0, true);
    hostProc.watchChildren(); // creates the wake-up pipe the addon's signal handlers write to
    for (;;) {
      this.afterSyscall();
      // r0 = -EINTR and the handler runs; the frame saves (and sigreturn restores) the mask from before the call.
      if (sig.suspendWithPending(mask)) return;
      hostProc.waitChildEvent(-1);
    }
  }

  /** execve: an ARM program replaces this one in place (same pid); a host program runs and we exit with its status. */
  execve(pathAddr: number, argvAddr: number, envpAddr: number): number | { status: number } {
    const p = this.p, mem = p.mem;
    let path = mem.readCString(pathAddr);
    if (path === '/proc/self/exe') path = p.exePath;
    else if (p.sysroot && path.startsWith('/') && existsSync(p.sysroot + path)) path = p.sysroot + path;
    path = resolvePath(path);
    const strings = (addr: number): string[] => {
      const out: string[] = [];
      for (let a = addr >>> 0; addr && mem.dv.getUint32(a, true) !== 0; a += 4) out.push(mem.readCString(mem.dv.getUint32(a, true)));
      return out;
    };
    const argv = strings(argvAddr), envp = strings(envpAddr);
    const head = Buffer.alloc(20);
    try {
      if (!statSync(path).isFile()) return -E.EACCES;
      const fd = openSync(path, 'r');
      readSync(fd, head, 0, 20, 0);
      closeSync(fd);
    } catch (e) {
      const code = (e as { code?: string }).code;
      return code === 'ENOENT' ? -E.ENOENT : code === 'ENOTDIR' ? -E.ENOTDIR : -E.EACCES;
    }
    const armElf = head.readUInt32BE(0) === 0x7f454c46 && head[4] === 1 && head.readUInt16LE(18) === 40;
    return armElf ? this.execInPlace(path, argv, envp) : this.execHost(path, argv, envp);
  }

  private execInPlace(path: string, argv: string[], envp: string[]): number {
    const p = this.p, file = readFileSync(path);
    try {
      if (parseElf(file).interp !== null) return -E.ENOENT; // no dynamic loader: what a missing interpreter gives
    } catch (e) {
      if (e instanceof ElfError) return -8; // ENOEXEC
      throw e;
    }
    // Point of no return: drop the old image, translations, handlers and close-on-exec descriptors.
    const mem = p.mem, cache = p.cpu.cache;
    for (let pg = 0; pg < mem.codePages.length; pg++) if (mem.codePages[pg]) cache.invalidateRange(pg * 4096, pg * 4096 + 4096);
    for (let pg = 0; pg < mem.size / 4096; pg++) if (p.as.isMapped(pg * 4096)) mem.fill(pg * 4096, 4096);
    p.as.mark(0, mem.size, false);
    const st = p.cpu.state;
    st.regs.fill(0);
    st.regs[S.EXCL_ADDR] = -1;
    new Uint8Array(st.vfpBuffer).fill(0);
    const acts = p.signals.actions;
    for (let s = 1; s < acts.length; s++) {
      const h = acts[s]!.handler;
      if (h === SIG_IGN) continue;
      acts[s] = { handler: SIG_DFL, flags: 0, restorer: 0, mask: 0n };
      if (h !== SIG_DFL) p.signals.syncHost(s); // the host stops catching it
    }
    for (const fd of [...p.fs.cloexec]) p.fs.close(fd);
    (p as { exePath: string }).exePath = path;
    const uid = process.getuid?.() ?? 0, gid = process.getgid?.() ?? 0;
    p.loaded(loadElf(file, p.as, st, { path, file: hostFile(path), argv, env: envp, uid, gid }));
    return 0;
  }

  private execHost(path: string, argv: string[], envp: string[]): number | { status: number } {
    const pairs: number[] = [];
    for (const [fd, f] of this.p.fs.fds) if (!this.p.fs.cloexec.has(fd) && f.host >= 0) pairs.push(fd, f.host);
    // execve keeps ignored signals ignored and the mask: only the others go back to SIG_DFL in the host program.
    const sig = this.p.signals, keep = sig.ignoredSet(), blocked = sig.blocked;
    const attrs = Int32Array.of(~Number(keep & 0xffffffffn), ~Number(keep >> 32n), Number(blocked & 0xffffffffn), Number(blocked >> 32n));
    const pid = hostProc.spawn(path, argv.length ? argv : [path], envp, Int32Array.from(pairs), attrs);
    if (pid < 0) return pid;
    const r = hostProc.waitpid(pid, 0, this.status);
    if (r < 0) return r;
    return { status: this.status[0]! };
  }
}
