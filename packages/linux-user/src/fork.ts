import { spawnSync, type StdioOptions } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { E } from './errno.js';
import { SIGNAL_STATE_ENV, signalStateValue } from './signal-inherit.js';
import type { OpenFile } from './sys-fs.js';
import type { LinuxProcess } from './process.js';
import type { MappedFile } from './mapped-files.js';

/** What a parent left behind when it forked: everything the child may change. */
interface ParentFrame {
  regs: Int32Array;
  vfp: Uint8Array;
  memory: [number, Uint8Array][];
  mapped: Uint8Array;
  /** AddressSpace.files: the table and its runs (the child may exec and map others). */
  files: [MappedFile[], number[]];
  brk: number;
  fds: Map<number, OpenFile>;
  blocked: bigint;
  /** Dispositions: the child may change them (a background job ignores SIGINT) before it execs. */
  actions: { handler: number; flags: number; restorer: number; mask: bigint }[];
  /** Pending signals stay with the parent; the child starts with none. */
  pending: ReturnType<LinuxProcess['signals']['takePending']>;
  pid: number;
  childPid: number;
}

const CLONE_VM = 0x100, CLONE_CHILD_SETTID = 0x01000000;

/** What the system-call layer needs from a process model (HostProcesses or SequentialProcesses). */
export interface GuestProcesses {
  readonly pid: number;
  /** A forked child is running in this emulator (sequential model only). */
  readonly inChild: boolean;
  ppid(): number;
  /** clone's new stack (0: the parent's) and CLONE_SETTLS value apply to the child only. */
  fork(flags: number, ctid: number, ptid?: number, sp?: number, tls?: number): number;
  childExit(status: number): void;
  wait4(pid: number, wstatus: number, options: number, rusage?: number): number;
  execve(pathAddr: number, argvAddr: number, envpAddr: number): number | { status: number };
  /** kill(2) to another process. */
  kill(pid: number, sig: number): number;
  /** Queue a signal a system call raised (SIGPIPE); the run loop delivers it after the call returns. */
  raise(sig: number): void;
  /** Run after each system call, before the run loop delivers pending signals (HostProcesses: SIGCHLD becomes pending). */
  afterSyscall(): void;
  /** rt_sigsuspend: sets r0 itself. */
  sigsuspend(maskAddr: number): void;
  /** Non-zero while a forked child has not yet told its parent it runs: the run loop then calls startupSyscall. */
  startup: number;
  startupSyscall?(nr: number): void;
  /** A forked child restored its state; `readyFd` is closed to tell the parent it runs (HostProcesses). */
  childStarted?(readyFd: number): void;
}

/**
 * fork / vfork / execve / wait4 without fork(2): "sequential processes".
 * A fork saves the parent (registers, mapped memory, descriptor table) and
 * runs the child at once, in this emulator; when the child exits, or execs
 * (the new program runs to completion as a separate process through
 * spawnSync: another tsemu-arm for ARM executables, the host program
 * otherwise, as qemu-arm without binfmt does), the parent is restored and
 * fork returns the child's pid. Pipes are in-memory buffers, so pipelines
 * work as long as each stage can run before the next (no interactive or
 * endless producers). The alternative recorded in DESIGN.md, one real
 * process per fork with a small native addon for pipe/dup2, is future work.
 */
export class SequentialProcesses implements GuestProcesses {
  private parents: ParentFrame[] = [];
  private zombies = new Map<number, number>();
  private nextPid = 0x10000;
  pid = process.pid;
  readonly startup = 0;

  constructor(private p: LinuxProcess, private selfCommand: readonly string[]) {}

  /** Other processes have finished already: nobody to signal, nothing to wait for. */
  kill(): number { return 0; }
  raise(): void { /* in-memory pipes never break */ }
  afterSyscall(): void { /* no asynchronous signals: the run loop delivers what the process sent itself */ }
  sigsuspend(): void { this.p.cpu.state.regs[0] = -E.EINTR; }

  get inChild(): boolean {
    return this.parents.length > 0;
  }

  ppid(): number {
    return this.parents.length ? this.parents[this.parents.length - 1]!.pid : process.ppid;
  }

  fork(flags: number, ctid: number): number {
    if ((flags & CLONE_VM) && !(flags & 0x4000)) return -E.EAGAIN; // threads: not yet
    const p = this.p, cpu = p.cpu.state;
    const childPid = this.nextPid++;
    this.parents.push({
      regs: cpu.regs.slice(), vfp: new Uint8Array(cpu.vfpBuffer).slice(), memory: p.as.snapshot(), mapped: p.as.mappedCopy(),
      files: [p.as.files.files.slice(), p.as.files.runs()],
      brk: p.as.brk, fds: p.fs.snapshot(), blocked: p.signals.blocked,
      actions: p.signals.actions.map((a) => ({ ...a })), pending: p.signals.takePending(), pid: this.pid, childPid,
    });
    this.pid = childPid;
    if (flags & CLONE_CHILD_SETTID && ctid) p.mem.dv.setInt32(ctid >>> 0, childPid, true);
    return 0;
  }

  /** The running child ended with wait status `status`: back to its parent. */
  childExit(status: number): void {
    const f = this.parents.pop()!;
    const p = this.p, cpu = p.cpu.state;
    p.fs.restore(f.fds);
    p.as.restore(f.memory, f.mapped, f.brk);
    p.as.files.restore(...f.files);
    cpu.regs.set(f.regs);
    new Uint8Array(cpu.vfpBuffer).set(f.vfp);
    p.signals.blocked = f.blocked;
    p.signals.actions = f.actions;
    p.signals.restorePending(f.pending);
    this.pid = f.pid;
    this.zombies.set(f.childPid, status);
    cpu.regs[0] = f.childPid;
  }

  wait4(pid: number, wstatus: number, options: number): number {
    let found = -1;
    for (const k of this.zombies.keys()) if (pid <= 0 || k === pid) { found = k; break; }
    if (found < 0) return options & 1 && this.zombies.size ? 0 : -E.ECHILD;
    if (wstatus) this.p.mem.dv.setInt32(wstatus >>> 0, this.zombies.get(found)!, true);
    this.zombies.delete(found);
    return found;
  }

  /** execve: run the program to completion; returns -errno, or the wait status of the finished program. */
  execve(pathAddr: number, argvAddr: number, envpAddr: number): number | { status: number } {
    const mem = this.p.mem;
    let path = mem.readCString(pathAddr);
    if (path === '/proc/self/exe') path = this.p.exePath;
    else if (this.p.sysroot && path.startsWith('/') && existsSync(this.p.sysroot + path)) path = this.p.sysroot + path;
    path = resolvePath(path);
    const strings = (addr: number): string[] => {
      const out: string[] = [];
      for (let a = addr >>> 0; addr && mem.dv.getUint32(a, true) !== 0; a += 4) out.push(mem.readCString(mem.dv.getUint32(a, true)));
      return out;
    };
    const argv = strings(argvAddr), envp = strings(envpAddr);
    let head: Buffer;
    try {
      if (!statSync(path).isFile()) return -E.EACCES;
      const fd = openSync(path, 'r');
      head = Buffer.alloc(20);
      readSync(fd, head, 0, 20, 0);
      closeSync(fd);
    } catch (e) {
      return (e as { code?: string }).code === 'ENOENT' ? -E.ENOENT : -E.EACCES;
    }
    const armElf = head.readUInt32BE(0) === 0x7f454c46 && head[4] === 1 && head.readUInt16LE(18) === 40;
    const [cmd, ...args] = armElf ? [...this.selfCommand, '-0', argv[0] ?? path, path, ...argv.slice(1)] : [path, ...argv.slice(1)];
    const fds = this.p.fs.fds;
    const stdio: StdioOptions = [0, 1, 2].map((i) => {
      const f = fds.get(i);
      return !f ? 'ignore' : f.pipe ? 'pipe' : f.host;
    });
    const stdin = fds.get(0)?.pipe;
    const input = stdin ? Buffer.concat(stdin.chunks.splice(0)) : undefined;
    const env = Object.fromEntries(envp.map((kv) => { const i = kv.indexOf('='); return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)]; }));
    // The new tsemu-arm is the same guest process after execve: ignored signals and the mask carry over (signal-inherit.ts).
    if (armElf) env[SIGNAL_STATE_ENV] = signalStateValue(this.p.signals.ignoredSet(), this.p.signals.blocked, this.p.signals.pending);
    const r = spawnSync(cmd!, args, { stdio, input, env, argv0: armElf ? undefined : argv[0], maxBuffer: 1 << 30, cwd: process.cwd() });
    if (r.error) return -E.ENOENT;
    fds.get(1)?.pipe?.chunks.push(r.stdout as Buffer);
    fds.get(2)?.pipe?.chunks.push(r.stderr as Buffer);
    const sig = r.signal ? SIGNALS[r.signal] ?? 9 : 0;
    return { status: sig ? sig : ((r.status ?? 0) & 0xff) << 8 };
  }
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10,
  SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15,
};
