import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CAUGHT_RT, caughtSignals, hostProc, SIGNAL_CATCH, SIGNAL_DEFAULT, SIGNAL_IGNORE } from '@tsemu/host-io';
import { inheritedSignals } from './signal-inherit.js';
import { FAULT_ALIGN, FAULT_WRITE } from '@tsemu/tcg';
import { S } from '@tsemu/target-arm';
import { GuestExit } from './errno.js';
import type { LinuxProcess } from './process.js';

export const SIG = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12, PIPE: 13, ALRM: 14,
  TERM: 15, CHLD: 17, CONT: 18, STOP: 19,
} as const;

/** strsignal() texts, as qemu-arm prints them for an uncaught signal. */
const NAMES: Record<number, string> = {
  1: 'Hangup', 2: 'Interrupt', 3: 'Quit', 4: 'Illegal instruction', 5: 'Trace/breakpoint trap', 6: 'Aborted', 7: 'Bus error',
  8: 'Floating point exception', 9: 'Killed', 10: 'User defined signal 1', 11: 'Segmentation fault', 12: 'User defined signal 2',
  13: 'Broken pipe', 14: 'Alarm clock', 15: 'Terminated', 24: 'CPU time limit exceeded', 25: 'File size limit exceeded', 31: 'Bad system call',
};
/** Signals whose default action dumps core (qemu-arm then prints "... - core dumped"). */
const CORE = new Set([3, 4, 5, 6, 7, 8, 11, 24, 25, 31]);
/** Default action "ignore" (SIGCHLD, SIGURG, SIGWINCH) or "stop/continue" (no job control here). */
const IGNORE_BY_DEFAULT = new Set([17, 18, 19, 20, 21, 22, 23, 28]);

const SA_SIGINFO = 4, SA_RESTART = 0x10000000, SA_ONSTACK = 0x08000000, SA_RESTORER = 0x04000000, SA_NODEFER = 0x40000000, SA_RESETHAND = 0x80000000;
const SIG_DFL = 0, SIG_IGN = 1;
const SS_ONSTACK = 1, SS_DISABLE = 2, SS_AUTODISARM = 0x80000000 | 0, MINSIGSTKSZ = 2048;
const EPERM = 1, EINVAL = 22, ENOMEM = 12;
/** si_code values. */
export const SI = { USER: 0, KERNEL: 0x80, TKILL: -6, SEGV_MAPERR: 1, SEGV_ACCERR: 2, BUS_ADRALN: 1, ILL_ILLOPC: 1, ILL_ILLOPN: 2, TRAP_BRKPT: 1 } as const;

// Frame layout (arch/arm/kernel/signal.c): rt_sigframe = siginfo (128) + sigframe;
// sigframe = ucontext (744) + retcode (8). ucontext: uc_flags, uc_link,
// uc_stack (12), sigcontext (21 words), uc_sigmask (8) + padding to 1024 bits,
// uc_regspace (512, 8-aligned) holding the VFP frame.
const UC_SIZE = 744, SIGFRAME = UC_SIZE + 8, SIGINFO = 128;
const UC_STACK = 8, UC_MCONTEXT = 20, UC_SIGMASK = 104, UC_REGSPACE = 232;
const SC_TRAPNO = 0, SC_ERROR = 4, SC_OLDMASK = 8, SC_R0 = 12, SC_CPSR = 76, SC_FAULT = 80;
const VFP_MAGIC = 0x56465001, VFP_SIZE = 288, FPEXC_EN = 0x40000000;
/** Without SA_RESTORER a handler returns to these addresses in the kuser page, which the process treats as (rt_)sigreturn. */
export const SIGRETURN_TRAMPOLINE = 0xffff0500, RT_SIGRETURN_TRAMPOLINE = 0xffff0520;

interface Action { handler: number; flags: number; restorer: number; mask: bigint }
/** What a handler's siginfo says: si_code and either the fault address or the sender (and sigqueue's value). */
export interface SigInfo { code: number; addr?: number; pid?: number; uid?: number; value?: number }
/** The CPU state may expose the whole CPSR incl. the IT bits (target-arm); otherwise cpsr()/setCpsrUser. */
interface CpsrAccess { getCpsr?: () => number; setCpsr?: (v: number) => void }

const bit = (sig: number): bigint => 1n << BigInt(sig - 1);
/** A blocking call was interrupted by a signal whose handler has SA_RESTART: the run loop re-issues the svc after it (Linux's ERESTARTSYS). */
export const RESTART_SYSCALL = -512;
const EINTR = 4;
/** Host signals a guest handler may take over: not the faults (synthesised), SIGKILL/SIGSTOP, nor SIGCHLD (counted separately). */
const NOT_FORWARDED = new Set([SIG.ILL, SIG.TRAP, SIG.BUS, SIG.FPE, SIG.KILL, SIG.SEGV, SIG.CHLD, SIG.STOP]);
/** Real-time signals the host can catch for the guest: glibc keeps 32 and 33 for itself (SIGRTMIN is 34). */
const RT_FIRST = 34;
/** Node ignores these at start-up; a guest with SIG_DFL must still die of them, so the host catches them for it. */
const NODE_IGNORES = new Set([SIG.PIPE, 25 /* SIGXFSZ */]);
/** The mode last given to the host for each signal (-1: not set by us), shared by every LinuxProcess here. */
const hostMode = new Int8Array(65).fill(-1);
/** Other processes' signals reach guest handlers when guest processes are host processes (the addon catches them). */
const forwardHost = hostProc.signals && process.env.TSEMU_SEQUENTIAL_FORK !== '1';
const UNBLOCKABLE = bit(SIG.KILL) | bit(SIG.STOP);

/**
 * Signal dispositions, mask, pending set, the alternate stack, and delivery
 * on Linux's ARM frames: synchronous faults (SIGSEGV, SIGBUS, SIGILL, SIGTRAP)
 * at the faulting instruction, and signals the process sends itself (kill,
 * tgkill, raise, abort), delivered when they are not blocked, on return from
 * the system call. rt_sigreturn / sigreturn restore registers, CPSR, the
 * mask and the VFP registers. An uncaught fatal signal prints qemu-arm's
 * message and ends the process by that signal.
 */
export class Signals {
  actions: Action[] = Array.from({ length: 65 }, () => ({ handler: SIG_DFL, flags: 0, restorer: 0, mask: 0n }));
  private mask = 0n;
  /** Sent but not yet delivered (blocked), with their siginfo. */
  pending = 0n;
  private pendingInfo = new Map<number, SigInfo>();
  /** sigaltstack: base, size (0 = disabled), SS_AUTODISARM. */
  private ssSp = 0;
  private ssSize = 0;
  private ssFlags = 0;
  /** Last hardware fault, for sigcontext trap_no / error_code / fault_address (like the kernel's thread struct). */
  private trapNo = 0;
  private errorCode = 0;
  private faultAddress = 0;

  /** A new program starts with the dispositions and mask it inherited (signal-inherit.ts); a forked child then takes its parent's. */
  constructor(private p: LinuxProcess) {
    const { ignored, blocked, pending } = inheritedSignals;
    for (let s = 1; s <= 64; s++) if (ignored & bit(s) && s !== SIG.KILL && s !== SIG.STOP) this.actions[s]!.handler = SIG_IGN;
    this.mask = blocked & ~UNBLOCKABLE;
    this.pending = pending & ~ignored;
  }

  /** The guest's signal mask. Setting it re-mirrors the signals whose blocked state changed (see syncHost). */
  get blocked(): bigint { return this.mask; }
  set blocked(v: bigint) {
    const changed = this.mask ^ v;
    this.mask = v;
    if (!forwardHost || changed === 0n) return;
    // Only SIG_DFL signals change host mode with the mask (caught while blocked); plain numbers, no bigint per bit.
    const lo = Number(changed & 0xffffffffn), hi = Number(changed >> 32n);
    for (let i = 0; i < 32; i++) if (lo & (1 << i) && this.actions[i + 1]!.handler === SIG_DFL) this.syncHost(i + 1);
    for (let i = 0; i < 32; i++) if (hi & (1 << i) && this.actions[i + 33]!.handler === SIG_DFL) this.syncHost(i + 33);
  }

  /** rt_sigaction(sig, act, oact, sigsetsize); struct: handler, flags, restorer, mask (8 bytes). */
  sigaction(sig: number, act: number, oact: number): number {
    if (sig < 1 || sig > 64 || (act && (sig === SIG.KILL || sig === SIG.STOP))) return -EINVAL;
    const dv = this.p.mem.dv;
    const a = this.actions[sig]!;
    if (oact) {
      dv.setUint32(oact, a.handler, true); dv.setUint32(oact + 4, a.flags, true);
      dv.setUint32(oact + 8, a.restorer, true); dv.setBigUint64(oact + 12, a.mask, true);
    }
    if (act) {
      const n: Action = {
        handler: dv.getUint32(act, true), flags: dv.getUint32(act + 4, true),
        restorer: dv.getUint32(act + 8, true), mask: dv.getBigUint64(act + 12, true) & ~UNBLOCKABLE,
      };
      this.actions[sig] = n;
      this.syncHost(sig);
      // A pending signal that is now ignored is discarded (POSIX).
      if (this.ignored(sig)) { this.pending &= ~bit(sig); this.pendingInfo.delete(sig); }
    }
    return 0;
  }

  /**
   * Mirror the guest's disposition of `sig` (1-31, 34-64) on the host: SIG_IGN
   * ignores it, so it neither kills nor reaches the guest, and survives into
   * host programs the guest execs. A handler catches the host signal into the
   * addon's pending word (no SA_RESTART, so blocking calls see EINTR); so does
   * SIG_DFL while the guest blocks the signal (it stays pending, as in the
   * kernel, and sigpending shows it) and for SIGPIPE / SIGXFSZ, which Node
   * ignores (the guest then dies of them on delivery). Otherwise SIG_DFL
   * gives the host default back, so a fatal default ends us with that signal.
   */
  syncHost(sig: number): void {
    if (!forwardHost || sig > 64 || (sig > 31 && sig < RT_FIRST) || NOT_FORWARDED.has(sig as 4)) return;
    const h = this.actions[sig]!.handler;
    const mode = h === SIG_IGN ? SIGNAL_IGNORE
      : h !== SIG_DFL || this.mask & bit(sig) || NODE_IGNORES.has(sig as 13) ? SIGNAL_CATCH : SIGNAL_DEFAULT;
    if (hostMode[sig] === mode) return;
    if (hostProc.setSignal(sig, mode) === 0) hostMode[sig] = mode;
  }

  /**
   * Start-up, a forked child's restored dispositions: every signal the guest
   * catches, ignores or blocks, the ones Node changed (SIGPIPE, SIGXFSZ), and
   * SIGUSR1 back to its default (Node takes it for the inspector; the guest
   * must die of it). Other defaults are left alone (an embedding test runner
   * may have handlers of its own).
   */
  syncAllHost(): void {
    for (let s = 1; s <= 64; s++) {
      if (s === SIG.USR1 || NODE_IGNORES.has(s as 13) || this.actions[s]!.handler !== SIG_DFL || this.mask & bit(s)) this.syncHost(s);
    }
  }

  /**
   * Signals other processes sent us (caught by the addon) become pending guest
   * signals with the sender's pid and uid; real-time ones (bit 31 of word 0
   * says some came) with the sender's si_code and sigqueue value too.
   */
  collectHost(): void {
    if (caughtSignals[0] === 0) return;
    const bits = Atomics.exchange(caughtSignals, 0, 0);
    for (let s = 1; s <= 31; s++) {
      if (bits & (1 << (s - 1))) this.send(s, { code: SI.USER, pid: caughtSignals[1 + s]!, uid: caughtSignals[33 + s]! >>> 0 });
    }
    if (bits >= 0) return;
    const rt = Atomics.exchange(caughtSignals, CAUGHT_RT, 0), c = caughtSignals, base = CAUGHT_RT;
    for (let i = 0; i < 32; i++) {
      if (!(rt & (1 << i))) continue;
      this.send(33 + i, { code: c[base + 65 + i]!, pid: c[base + 1 + i]!, uid: c[base + 33 + i]! >>> 0, value: c[base + 97 + i]! });
    }
  }

  /** Drop a host signal the addon caught but a system call already raised itself (EPIPE's SIGPIPE). */
  forgetHost(sig: number): void {
    if (sig < 32) Atomics.and(caughtSignals, 0, ~(1 << (sig - 1)));
  }

  /**
   * A blocking call woke up: 0 when no signal is ready to be delivered (keep
   * waiting), else what the call returns: -EINTR, or RESTART_SYSCALL when
   * the handler of the signal about to run has SA_RESTART (`restartable`
   * calls only; poll, pause and sigsuspend never restart with a handler).
   */
  interruption(restartable = true): number {
    this.collectHost();
    const ready = this.pending & ~this.blocked;
    if (ready === 0n) return 0;
    for (let s = 1; s <= 64; s++) {
      if (!(ready & bit(s))) continue;
      return restartable && this.actions[s]!.flags & SA_RESTART ? RESTART_SYSCALL : -EINTR;
    }
    return 0;
  }

  /**
   * At a system call's entry, before it runs: a signal from another process
   * that arrived while the guest computed is delivered first, as the kernel
   * would have on an earlier return to user mode. The svc is rewound, so it
   * runs after the handler returns. True when a handler was set up.
   */
  deliverBeforeSyscall(): boolean {
    this.collectHost();
    if ((this.pending & ~this.blocked) === 0n) return false;
    const r = this.p.cpu.state.regs;
    const pc = r[S.PC]!, svc = pc - (r[S.THUMB] ? 2 : 4);
    r[S.PC] = svc;
    this.deliverPending();
    if (r[S.PC] === svc) { r[S.PC] = pc; return false; } // nothing ran (ignored meanwhile)
    return true;
  }

  sigprocmask(how: number, set: number, oset: number): number {
    const dv = this.p.mem.dv;
    let next = this.blocked;
    if (set) {
      const v = dv.getBigUint64(set, true);
      if (how === 0) next |= v;
      else if (how === 1) next &= ~v;
      else if (how === 2) next = v;
      else return -EINVAL;
    }
    if (oset) dv.setBigUint64(oset, this.mask, true);
    this.blocked = next & ~UNBLOCKABLE;
    return 0;
  }

  /** sigaltstack(uss, uoss): struct stack_t { ss_sp, ss_flags, ss_size }. */
  sigaltstack(uss: number, uoss: number): number {
    const dv = this.p.mem.dv, sp = this.p.cpu.state.regs[S.SP]! >>> 0;
    const onStack = this.onSigStack(sp);
    let nsp = 0, nflags = 0, nsize = 0;
    if (uss) {
      nsp = dv.getUint32(uss, true); nflags = dv.getInt32(uss + 4, true); nsize = dv.getUint32(uss + 8, true);
      if (onStack) return -EPERM;
      const mode = nflags & ~SS_AUTODISARM;
      if (mode !== 0 && mode !== SS_DISABLE && mode !== SS_ONSTACK) return -EINVAL;
      if (mode !== SS_DISABLE && nsize < MINSIGSTKSZ) return -ENOMEM;
    }
    if (uoss) {
      dv.setUint32(uoss, this.ssSp, true);
      dv.setInt32(uoss + 4, this.ssFlagsFor(sp) | this.ssFlags, true);
      dv.setUint32(uoss + 8, this.ssSize, true);
    }
    if (uss) {
      if ((nflags & ~SS_AUTODISARM) === SS_DISABLE) { this.ssSp = 0; this.ssSize = 0; this.ssFlags = 0; }
      else { this.ssSp = nsp; this.ssSize = nsize; this.ssFlags = nflags & SS_AUTODISARM; }
    }
    return 0;
  }

  private onSigStack(sp: number): boolean {
    return this.ssSize !== 0 && sp > this.ssSp && sp - this.ssSp <= this.ssSize;
  }

  private ssFlagsFor(sp: number): number {
    return this.ssSize === 0 ? SS_DISABLE : this.onSigStack(sp) ? SS_ONSTACK : 0;
  }

  /**
   * A fork child starts with nothing pending (the sequential model runs it in
   * this emulator): take the parent's pending signals away until it resumes.
   */
  takePending(): { pending: bigint; info: Map<number, SigInfo> } {
    const saved = { pending: this.pending, info: this.pendingInfo };
    this.pending = 0n;
    this.pendingInfo = new Map();
    return saved;
  }

  /** The parent resumes: its pending signals are back. */
  restorePending(saved: { pending: bigint; info: Map<number, SigInfo> }): void {
    this.pending = saved.pending;
    this.pendingInfo = saved.info;
  }

  /** The signals set to SIG_IGN (bit sig-1): what execve keeps. */
  ignoredSet(): bigint {
    let set = 0n;
    for (let s = 1; s <= 64; s++) if (this.actions[s]!.handler === SIG_IGN) set |= bit(s);
    return set;
  }

  private ignored(sig: number): boolean {
    const h = this.actions[sig]!.handler;
    return h === SIG_IGN || (h === SIG_DFL && IGNORE_BY_DEFAULT.has(sig));
  }

  /**
   * A synchronous fault at the instruction at `pc` (registers as before it).
   * Blocked or ignored, it still kills the process, as the kernel's force_sig does.
   */
  fault(sig: number, pc: number, info: SigInfo, trapNo = 0, errorCode = 0): void {
    this.p.cpu.state.regs[S.PC] = pc;
    this.trapNo = trapNo;
    this.errorCode = errorCode;
    if (info.addr !== undefined && trapNo === 14) this.faultAddress = info.addr >>> 0;
    const a = this.actions[sig]!;
    if (this.blocked & bit(sig) || a.handler === SIG_IGN) {
      this.actions[sig] = { handler: SIG_DFL, flags: 0, restorer: 0, mask: 0n };
      this.blocked &= ~bit(sig);
    }
    this.deliver(sig, info);
  }

  /**
   * The TB left with EXIT_FAULT: deliver SIGSEGV (SEGV_MAPERR for an unmapped
   * page, SEGV_ACCERR for a protected one) or SIGBUS (BUS_ADRALN) with the
   * registers as they were before the faulting instruction. trap_no and
   * error_code follow the kernel (data abort 14; FSR: 0x7 translation,
   * 0xf permission, 0x1 alignment, bit 11 for a write).
   */
  memoryFault(): void {
    const mem = this.p.mem, kind = mem.fk, addr = mem.faultAddr, pc = mem.faultPc, mapped = mem.faultMapped;
    mem.clearFault();
    if (kind === FAULT_ALIGN) { this.fault(SIG.BUS, pc, { code: SI.BUS_ADRALN, addr }, 14, 0x1); return; }
    const fsr = (mapped ? 0xf : 0x7) | (kind === FAULT_WRITE ? 0x800 : 0);
    this.fault(SIG.SEGV, pc, { code: mapped ? SI.SEGV_ACCERR : SI.SEGV_MAPERR, addr }, 14, fsr);
  }

  /** A branch into the kuser page outside its helpers: our sigreturn trampolines, or SIGSEGV. */
  kuserBranch(pc: number): void {
    if (pc === SIGRETURN_TRAMPOLINE || pc === RT_SIGRETURN_TRAMPOLINE) {
      this.sigreturn(pc === RT_SIGRETURN_TRAMPOLINE);
      this.deliverPending();
      return;
    }
    this.fault(SIG.SEGV, pc, { code: SI.SEGV_MAPERR, addr: pc }, 14, 0x7);
  }

  /**
   * An undefined instruction: SIGILL (ILL_ILLOPN, as qemu-arm reports it), or
   * SIGTRAP for the encodings Linux uses as breakpoints (ARM 0xe7f001f0,
   * Thumb 0xde01), as the kernel's undef hooks and qemu-arm do.
   */
  undefinedInstruction(pc: number, insn: number, thumb: boolean): void {
    const bkpt = thumb ? (insn & 0xffff) === 0xde01 && insn >>> 16 === 0 : insn >>> 0 === 0xe7f001f0;
    if (bkpt) this.fault(SIG.TRAP, pc, { code: SI.TRAP_BRKPT, addr: pc }, 6);
    else this.fault(SIG.ILL, pc, { code: SI.ILL_ILLOPN, addr: pc }, 6);
  }

  /** Old entry point: SIGILL / SIGTRAP at `pc`. */
  raiseSync(sig: number, pc: number): void {
    const code = sig === SIG.ILL ? SI.ILL_ILLOPN : sig === SIG.TRAP ? SI.TRAP_BRKPT : SI.SEGV_MAPERR;
    this.fault(sig, pc, { code, addr: pc }, sig === SIG.ILL ? 6 : 0);
  }

  /** kill / tgkill / tkill to ourselves: pending until unblocked, delivered on return from the system call. */
  send(sig: number, info: SigInfo): void {
    if (sig === 0) return;
    if (sig === SIG.KILL) this.terminate(sig);
    if (this.ignored(sig)) return;
    this.pending |= bit(sig);
    if (!this.pendingInfo.has(sig)) this.pendingInfo.set(sig, info);
  }

  /** Deliver one pending, unblocked signal (after each system call). */
  deliverPending(): void {
    const ready = this.pending & ~this.blocked;
    if (ready === 0n) return;
    for (let s = 1; s <= 64; s++) {
      if (!(ready & bit(s))) continue;
      this.pending &= ~bit(s);
      const info = this.pendingInfo.get(s) ?? { code: SI.USER };
      this.pendingInfo.delete(s);
      this.deliver(s, info);
      return;
    }
  }

  /**
   * rt_sigsuspend(mask) when a self-sent signal is pending and `mask` lets it
   * through: r0 = -EINTR and its handler runs (the frame keeps the mask from
   * before the call). False when nothing is ready (the caller then waits).
   */
  suspendWithPending(mask: bigint): boolean {
    const ready = this.pending & ~mask;
    if (ready === 0n) return false;
    this.p.cpu.state.regs[0] = -4; // EINTR
    for (let s = 1; s <= 64; s++) {
      if (!(ready & bit(s))) continue;
      this.pending &= ~bit(s);
      const info = this.pendingInfo.get(s) ?? { code: SI.USER };
      this.pendingInfo.delete(s);
      this.deliver(s, info);
      break;
    }
    return true;
  }

  /** Deliver `sig` now: run its handler on a new frame, ignore it, or die of it. */
  deliver(sig: number, info: SigInfo = { code: SI.KERNEL }): void {
    if (sig === 0) return;
    const a = this.actions[sig]!;
    if (a.handler === SIG_IGN && sig !== SIG.KILL) return;
    if (a.handler === SIG_DFL || sig === SIG.KILL) {
      if (IGNORE_BY_DEFAULT.has(sig)) return;
      this.terminate(sig);
    }
    this.setupFrame(sig, a, info);
    if (a.flags & SA_RESETHAND) this.actions[sig] = { handler: SIG_DFL, flags: 0, restorer: 0, mask: 0n };
  }

  terminate(sig: number): never {
    const name = NAMES[sig] ?? `Unknown signal ${sig}`;
    if (CORE.has(sig)) process.stderr.write(`qemu: uncaught target signal ${sig} (${name}) - core dumped\n`);
    throw new GuestExit(128 + sig, sig);
  }

  private cpsr(): number {
    const cpu = this.p.cpu.state as unknown as CpsrAccess & { cpsr(): number };
    return (cpu.getCpsr ? cpu.getCpsr() : cpu.cpsr()) >>> 0;
  }

  private setupFrame(sig: number, a: Action, info: SigInfo): void {
    const cpu = this.p.cpu.state, r = cpu.regs, mem = this.p.mem, dv = mem.dv;
    const rt = (a.flags & SA_SIGINFO) !== 0;
    const oldSp = r[S.SP]! >>> 0;
    let sp = oldSp;
    if (a.flags & SA_ONSTACK && this.ssSize !== 0 && !this.onSigStack(sp)) sp = (this.ssSp + this.ssSize) >>> 0;
    const size = rt ? SIGINFO + SIGFRAME : SIGFRAME;
    const frame = ((sp - size) & ~7) >>> 0;
    // A frame that cannot be written (stack overflow without an alternate stack) kills with SIGSEGV.
    if (!mem.canWrite(frame, size)) {
      this.actions[SIG.SEGV] = { handler: SIG_DFL, flags: 0, restorer: 0, mask: 0n };
      this.terminate(SIG.SEGV);
    }
    mem.fill(frame, size);
    const uc = rt ? frame + SIGINFO : frame;
    if (rt) {
      dv.setInt32(frame, sig, true);
      dv.setInt32(frame + 8, info.code, true);
      if (info.addr !== undefined) dv.setUint32(frame + 12, info.addr >>> 0, true);
      else {
        dv.setInt32(frame + 12, info.pid ?? 0, true); dv.setUint32(frame + 16, info.uid ?? 0, true);
        if (info.value !== undefined) dv.setInt32(frame + 20, info.value, true); // si_value (sigqueue)
      }
    }
    // uc_stack describes the alternate stack as seen from the interrupted code.
    dv.setUint32(uc + UC_STACK, this.ssSp, true);
    dv.setInt32(uc + UC_STACK + 4, this.ssFlagsFor(oldSp) | this.ssFlags, true);
    dv.setUint32(uc + UC_STACK + 8, this.ssSize, true);
    const sc = uc + UC_MCONTEXT;
    dv.setUint32(sc + SC_TRAPNO, this.trapNo, true);
    dv.setUint32(sc + SC_ERROR, this.errorCode, true);
    dv.setUint32(sc + SC_OLDMASK, Number(this.blocked & 0xffffffffn), true);
    for (let i = 0; i < 16; i++) dv.setInt32(sc + SC_R0 + i * 4, r[i]!, true);
    dv.setUint32(sc + SC_CPSR, this.cpsr(), true);
    dv.setUint32(sc + SC_FAULT, this.faultAddress, true);
    dv.setBigUint64(uc + UC_SIGMASK, this.blocked, true);
    // VFP: magic, size, d0-d31, fpscr, fpexc/fpinst/fpinst2; then the terminating 0 magic.
    const vfp = uc + UC_REGSPACE;
    dv.setUint32(vfp, VFP_MAGIC, true);
    dv.setUint32(vfp + 4, VFP_SIZE, true);
    mem.u8.set(new Uint8Array(cpu.vfpBuffer, 0, 256), vfp + 8);
    dv.setUint32(vfp + 264, cpu.fpscr(), true);
    dv.setUint32(vfp + 272, FPEXC_EN, true);
    // retcode: "mov r7, #nr; svc 0" like the kernel writes (we return through the kuser page instead, see below).
    const nr = rt ? 173 : 119;
    dv.setUint32(uc + UC_SIZE, (0xe3a07000 | nr) >>> 0, true);
    dv.setUint32(uc + UC_SIZE + 4, 0xef000000, true);

    this.blocked = (this.mask | a.mask | (a.flags & SA_NODEFER ? 0n : bit(sig))) & ~UNBLOCKABLE;
    if (sp !== oldSp && this.ssFlags & SS_AUTODISARM) { this.ssSp = 0; this.ssSize = 0; this.ssFlags = 0; }
    r[0] = sig;
    if (rt) { r[1] = frame; r[2] = uc; }
    r[S.SP] = frame;
    r[S.LR] = a.flags & SA_RESTORER ? a.restorer : rt ? RT_SIGRETURN_TRAMPOLINE : SIGRETURN_TRAMPOLINE;
    r[S.PC] = a.handler & ~1;
    r[S.THUMB] = a.handler & 1;
    // The handler starts outside any IT block (when the CPU state tracks one).
    const condexec = (S as Record<string, number>).CONDEXEC;
    if (condexec !== undefined) r[condexec] = 0;
  }

  /** rt_sigreturn (rt) / sigreturn: restore what setupFrame saved. A bad frame kills with SIGSEGV. */
  sigreturn(rt = true): void {
    const cpu = this.p.cpu.state, r = cpu.regs, mem = this.p.mem, dv = mem.dv;
    const sp = r[S.SP]! >>> 0;
    const uc = rt ? sp + SIGINFO : sp;
    if (sp & 7 || !mem.canWrite(sp, rt ? SIGINFO + UC_SIZE : UC_SIZE)) {
      this.actions[SIG.SEGV] = { handler: SIG_DFL, flags: 0, restorer: 0, mask: 0n };
      this.terminate(SIG.SEGV);
    }
    const sc = uc + UC_MCONTEXT;
    for (let i = 0; i < 16; i++) r[i] = dv.getInt32(sc + SC_R0 + i * 4, true);
    const cpsr = dv.getUint32(sc + SC_CPSR, true);
    const acc = cpu as unknown as CpsrAccess;
    if (acc.setCpsr) acc.setCpsr(cpsr);
    else cpu.setCpsrUser(cpsr);
    r[S.THUMB] = (cpsr >>> 5) & 1;
    r[S.PC] = r[S.PC]! & (r[S.THUMB] ? ~1 : ~3);
    this.blocked = dv.getBigUint64(uc + UC_SIGMASK, true) & ~UNBLOCKABLE;
    const vfp = uc + UC_REGSPACE;
    if (dv.getUint32(vfp, true) === VFP_MAGIC && dv.getUint32(vfp + 4, true) === VFP_SIZE) {
      new Uint8Array(cpu.vfpBuffer, 0, 256).set(mem.u8.subarray(vfp + 8, vfp + 264));
      cpu.setFpscr(dv.getUint32(vfp + 264, true));
    }
    r[S.EXCL_ADDR] = -1;
    if (rt) {
      // restore_altstack: like sigaltstack(&uc_stack), errors other than EFAULT ignored.
      const ssp = dv.getUint32(uc + UC_STACK, true), sfl = dv.getInt32(uc + UC_STACK + 4, true), ssz = dv.getUint32(uc + UC_STACK + 8, true);
      if (!this.onSigStack(r[S.SP]! >>> 0)) {
        if ((sfl & ~SS_AUTODISARM & ~SS_ONSTACK) === SS_DISABLE) { this.ssSp = 0; this.ssSize = 0; this.ssFlags = 0; }
        else if (ssz >= MINSIGSTKSZ) { this.ssSp = ssp; this.ssSize = ssz; this.ssFlags = sfl & SS_AUTODISARM; }
      }
    }
  }
}

/**
 * End this Node process by `sig`, as qemu-arm ends itself after an uncaught
 * guest signal: no core file (qemu sets RLIMIT_CORE to 0 first; we do it
 * with prlimit(1) when the limit is not 0 already), the signal's default
 * action restored (Node handles SIGUSR1 for its inspector and V8 may hold
 * SIGSEGV), then kill(getpid(), sig). Returns only when that failed.
 */
export function dieBySignal(sig: number): void {
  if (CORE.has(sig)) {
    let limited = false;
    try { limited = /^Max core file size\s+0\s/m.test(readFileSync('/proc/self/limits', 'utf8')); } catch { /* not Linux */ }
    if (!limited) spawnSync('prlimit', ['--pid', String(process.pid), '--core=0:'], { stdio: 'ignore' });
  }
  if (hostProc.available) hostProc.defaultSignal(sig);
  else if (sig === 10) return; // SIGUSR1 would start Node's inspector: let the caller exit with 128 + sig
  process.removeAllListeners();
  try { process.kill(process.pid, sig); } catch { /* fall back to the exit status */ }
}
