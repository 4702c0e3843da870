import { S } from '@tsemu/target-arm';
import { GuestExit } from './errno.js';
import type { LinuxProcess } from './process.js';

export const SIG = { HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12, PIPE: 13, ALRM: 14, TERM: 15, CHLD: 17 } as const;

const NAMES: Record<number, string> = {
  1: 'Hangup', 2: 'Interrupt', 3: 'Quit', 4: 'Illegal instruction', 5: 'Trace/breakpoint trap', 6: 'Aborted', 7: 'Bus error',
  8: 'Floating point exception', 9: 'Killed', 10: 'User defined signal 1', 11: 'Segmentation fault', 12: 'User defined signal 2',
  13: 'Broken pipe', 14: 'Alarm clock', 15: 'Terminated',
};
const CORE = new Set([3, 4, 5, 6, 7, 8, 11]);
const IGNORE_BY_DEFAULT = new Set([17, 23, 28]);

const SA_SIGINFO = 4, SA_RESTORER = 0x04000000, SA_NODEFER = 0x40000000, SA_RESETHAND = 0x80000000;
const SIG_DFL = 0, SIG_IGN = 1;
const SIGFRAME_SIZE = 128 + 4 + 4 + 12 + 21 * 4 + 128 + 8;

interface Action { handler: number; flags: number; restorer: number; mask: bigint }

/**
 * Signal dispositions and delivery of the signals a single-threaded guest
 * raises itself (SIGILL from an undefined instruction, SIGABRT from abort(),
 * kill/tgkill to itself). A handler runs on a kernel-like rt_sigframe:
 * siginfo, then ucontext with the saved registers that rt_sigreturn restores.
 */
export class Signals {
  private actions: Action[] = Array.from({ length: 65 }, () => ({ handler: SIG_DFL, flags: 0, restorer: 0, mask: 0n }));
  blocked = 0n;

  constructor(private p: LinuxProcess) {}

  /** rt_sigaction(sig, act, oact, sigsetsize); struct: handler, flags, restorer, mask (8 bytes). */
  sigaction(sig: number, act: number, oact: number): number {
    if (sig < 1 || sig > 64 || sig === SIG.KILL || sig === 19) return -22;
    const dv = this.p.mem.dv;
    const a = this.actions[sig]!;
    if (oact) {
      dv.setUint32(oact, a.handler, true); dv.setUint32(oact + 4, a.flags, true);
      dv.setUint32(oact + 8, a.restorer, true); dv.setBigUint64(oact + 12, a.mask, true);
    }
    if (act) {
      this.actions[sig] = {
        handler: dv.getUint32(act, true), flags: dv.getUint32(act + 4, true),
        restorer: dv.getUint32(act + 8, true), mask: dv.getBigUint64(act + 12, true),
      };
    }
    return 0;
  }

  sigprocmask(how: number, set: number, oset: number): number {
    const dv = this.p.mem.dv;
    if (oset) dv.setBigUint64(oset, this.blocked, true);
    if (set) {
      const v = dv.getBigUint64(set, true);
      if (how === 0) this.blocked |= v;
      else if (how === 1) this.blocked &= ~v;
      else if (how === 2) this.blocked = v;
      else return -22;
    }
    return 0;
  }

  /** A fault at `pc`: deliver to a handler or terminate. */
  raiseSync(sig: number, pc: number): void {
    this.p.cpu.state.regs[S.PC] = pc;
    this.deliver(sig);
  }

  /** kill / tgkill to ourselves: delivered at once (the syscall's return value is already in r0). */
  deliver(sig: number): void {
    if (sig === 0) return;
    const a = this.actions[sig]!;
    if (a.handler === SIG_IGN && sig !== SIG.KILL) return;
    if (a.handler === SIG_DFL || sig === SIG.KILL) {
      if (IGNORE_BY_DEFAULT.has(sig)) return;
      this.terminate(sig);
    }
    this.setupFrame(sig, a);
    if (a.flags & SA_RESETHAND) this.actions[sig] = { handler: SIG_DFL, flags: 0, restorer: 0, mask: 0n };
  }

  terminate(sig: number): never {
    const name = NAMES[sig] ?? `Unknown signal ${sig}`;
    if (CORE.has(sig)) process.stderr.write(`qemu: uncaught target signal ${sig} (${name}) - core dumped\n`);
    throw new GuestExit(128 + sig, sig);
  }

  private setupFrame(sig: number, a: Action): void {
    const cpu = this.p.cpu.state, r = cpu.regs, dv = this.p.mem.dv;
    // SA_ONSTACK is not honoured yet: frames always go on the current stack.
    const sp = ((r[S.SP]! >>> 0) - SIGFRAME_SIZE) & ~7;
    const info = sp, uc = sp + 128;
    this.p.mem.fill(sp, SIGFRAME_SIZE);
    dv.setInt32(info, sig, true);
    // ucontext: uc_flags, uc_link, uc_stack (12), then sigcontext.
    const sc = uc + 20;
    dv.setUint32(sc + 8, Number(this.blocked & 0xffffffffn), true);
    for (let i = 0; i < 16; i++) dv.setInt32(sc + 12 + i * 4, r[i]!, true);
    dv.setUint32(sc + 12 + 64, cpu.cpsr(), true);
    dv.setBigUint64(sc + 84, this.blocked, true); // uc_sigmask
    if (!(a.flags & SA_NODEFER)) this.blocked |= 1n << BigInt(sig - 1);
    this.blocked |= a.mask;
    r[0] = sig;
    r[1] = a.flags & SA_SIGINFO ? info : 0;
    r[2] = a.flags & SA_SIGINFO ? uc : 0;
    r[S.SP] = sp;
    r[S.LR] = a.flags & SA_RESTORER ? a.restorer : 0;
    r[S.PC] = a.handler & ~1;
    r[S.THUMB] = a.handler & 1;
  }

  /** rt_sigreturn: restore what setupFrame saved. */
  sigreturn(): void {
    const cpu = this.p.cpu.state, r = cpu.regs, dv = this.p.mem.dv;
    const sp = r[S.SP]! >>> 0;
    const sc = sp + 128 + 20;
    for (let i = 0; i < 16; i++) r[i] = dv.getInt32(sc + 12 + i * 4, true);
    const cpsr = dv.getUint32(sc + 12 + 64, true);
    cpu.setCpsrUser(cpsr);
    r[S.THUMB] = (cpsr >>> 5) & 1;
    this.blocked = dv.getBigUint64(sc + 84, true);
  }
}
