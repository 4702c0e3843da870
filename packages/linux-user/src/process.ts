import { readFileSync } from 'node:fs';
import { caughtSignals, hostProc } from '@tsemu/host-io';
import { EXIT_FAULT, EXIT_INTERRUPT, GuestMemory, type IrBlock } from '@tsemu/tcg';
import { ArmCpu, EXIT_EXCEPTION, Excp, S } from '@tsemu/target-arm';
import { AddressSpace } from './address-space.js';
import { GuestExit } from './errno.js';
import { loadElf, type LoadedProgram } from './loader.js';
import { hostFile } from './mapped-files.js';
import { Signals, SIG } from './signals.js';
import { FsCalls } from './sys-fs.js';
import { Syscalls } from './syscalls.js';
import { SequentialProcesses, type GuestProcesses } from './fork.js';
import { restoreForkedChild } from './fork-state.js';
import { HostProcesses, realProcesses } from './host-processes.js';

export interface ProcessOptions {
  argv: string[];
  env: string[];
  /** -L: prefix for absolute guest paths that exist under it. */
  sysroot?: string;
  strace?: boolean;
  /** Guest memory size in bytes (the guest's whole address space starts at 0). */
  memorySize?: number;
  /** Run TBs through the IR interpreter (slow; for cross-checking). */
  interpret?: boolean;
  /** Executions of a TB in the interpreter before it is compiled to JS (0: compile at once; TbCache's default otherwise). */
  hotThreshold?: number;
  log?: (line: string) => void;
  /** How to start another tsemu-arm for a guest execve of an ARM program (argv prefix). */
  selfCommand?: string[];
  /** Count guest instructions for stats() (TbCache's countInsns; default true). */
  countInsns?: boolean;
  /** Debug hook for each translated block (-d op, -d js). */
  onTranslate?: (pc: number, flags: number, ir: IrBlock) => void;
  /** Log undefined instructions (-d unimp). */
  logUnimp?: boolean;
}

const DEFAULT_MEMORY = 1 << 30;

/** One emulated Linux process running an ARM static executable. */
export class LinuxProcess {
  readonly mem: GuestMemory;
  readonly as: AddressSpace;
  readonly cpu: ArmCpu;
  readonly fs: FsCalls;
  readonly signals: Signals;
  readonly syscalls: Syscalls;
  readonly procs: GuestProcesses;
  readonly sysroot: string;
  readonly strace: boolean;
  readonly log: (line: string) => void;

  /** The argument strings on the guest's stack, [argStart, argEnd): what /proc/self/cmdline reads, as in Linux. */
  argStart = 0;
  argEnd = 0;
  /** The auxiliary vector on the guest's stack (/proc/self/auxv), the initial stack pointer and argv[0] as loaded (/proc/self/stat). */
  auxvStart = 0;
  auxvEnd = 0;
  startStack = 0;
  argv0 = '';

  constructor(readonly exePath: string, readonly opts: ProcessOptions) {
    const size = opts.memorySize ?? DEFAULT_MEMORY;
    this.mem = new GuestMemory(size, { unmapped: true });
    this.as = new AddressSpace(this.mem, 0x10000000);
    this.cpu = new ArmCpu(this.mem, {
      interpret: opts.interpret, onTranslate: opts.onTranslate, ...(opts.hotThreshold !== undefined && { hotThreshold: opts.hotThreshold }),
      ...(opts.countInsns !== undefined && { countInsns: opts.countInsns }),
    });
    this.sysroot = opts.sysroot ?? '';
    this.strace = opts.strace ?? false;
    this.log = opts.log ?? ((l) => process.stderr.write(l + '\n'));
    this.fs = new FsCalls(this);
    this.signals = new Signals(this);
    this.procs = realProcesses ? new HostProcesses(this, opts.selfCommand)
      : new SequentialProcesses(this, opts.selfCommand ?? [process.execPath, ...process.execArgv, process.argv[1] ?? '']);
    this.syscalls = new Syscalls(this);
    const uid = process.getuid?.() ?? 0, gid = process.getgid?.() ?? 0;
    // A tsemu-arm spawned for a guest fork resumes the parent's state instead (fork-state.ts).
    if (!restoreForkedChild(this)) this.loaded(loadElf(readFileSync(exePath), this.as, this.cpu.state, { path: exePath, file: hostFile(exePath), argv: opts.argv, env: opts.env, uid, gid }));
    this.signals.syncAllHost();
    // A guest that computes without system calls still sees other processes' signals: the addon's word stops the TB chain.
    if (realProcesses && hostProc.signals) this.cpu.cache.interrupt = caughtSignals;
  }

  /** Records what loadElf laid out (at start-up and after an execve in place). */
  loaded(prog: LoadedProgram): void {
    this.argStart = prog.argStart;
    this.argEnd = prog.argEnd;
    this.auxvStart = prog.auxvStart;
    this.auxvEnd = prog.auxvEnd;
    this.startStack = prog.sp;
    this.argv0 = this.mem.readCString(prog.argStart);
  }

  /** Run until the guest exits; returns its exit status or throws GuestExit for a fatal signal. */
  run(): GuestExit {
    const r = this.cpu.state.regs;
    for (;;) {
      let code: number;
      try {
        code = this.cpu.run();
      } catch (e) {
        if (e instanceof GuestExit) { if (this.childEnded(e)) continue; return e; }
        throw e;
      }
      try {
        // A guest access to a page it may not touch: SIGSEGV / SIGBUS at that instruction.
        if (code === EXIT_FAULT) { this.signals.memoryFault(); continue; }
        if (code === EXIT_INTERRUPT) { this.signals.collectHost(); this.signals.deliverPending(); continue; }
        if (code !== EXIT_EXCEPTION) throw new Error(`unexpected TB exit code ${code}`);
        switch (r[S.EXCP]) {
          case Excp.SWI:
            // Another process's signal that came in while the guest computed runs its handler before the call.
            if (caughtSignals[0] !== 0 && this.signals.deliverBeforeSyscall()) break;
            if (this.procs.startup !== 0) this.procs.startupSyscall!(r[7]! >>> 0);
            this.syscalls.dispatch(); this.procs.afterSyscall(); this.signals.deliverPending(); break;
          case Excp.KUSER: this.signals.kuserBranch(r[S.PC]! >>> 0); break;
          case Excp.UDEF:
            if (this.opts.logUnimp) this.log(`tsemu-arm: undefined instruction 0x${(r[S.EXCP_ARG]! >>> 0).toString(16)} at 0x${(r[S.PC]! >>> 0).toString(16)} (${r[S.THUMB] ? 'Thumb' : 'ARM'})`);
            this.signals.undefinedInstruction(r[S.PC]!, r[S.EXCP_ARG]!, r[S.THUMB] !== 0); break;
          case Excp.BKPT: this.signals.raiseSync(SIG.TRAP, r[S.PC]!); break;
          default: this.signals.raiseSync(SIG.SEGV, r[S.PC]!); break;
        }
      } catch (e) {
        if (e instanceof GuestExit) { if (this.childEnded(e)) continue; return e; }
        throw e;
      }
    }
  }

  /** A forked child exited (or finished its execve): resume its parent. */
  private childEnded(e: GuestExit): boolean {
    if (!this.procs.inChild) return false;
    this.procs.childExit(e.signal ? e.signal : (e.status & 0xff) << 8);
    return true;
  }

  /** Counters for benchmarks. */
  stats(): { tbs: number; compiled: number; retranslated: number; hinted: number; stopped: number; colded: number; insns: number; invalidated: number } {
    const c = this.cpu.cache;
    return { tbs: c.tbsTranslated, compiled: c.tbsCompiled, retranslated: c.tbsRetranslated, hinted: c.tbsHinted, stopped: c.tbsStopped, colded: c.tbsColded, insns: c.insnsExecuted, invalidated: c.tbsInvalidated };
  }
}
