import { Cond, IrBuilder, MemOp, Op, type IrOp, EXIT_LOOKUP, PAGE_BITS, PERM_X, type GuestMemory, type CondCode } from '@tsemu/tcg';
import { S, NUM_SLOTS, EXIT_EXCEPTION, Excp } from '../cpu-state.js';
import type { ArmHelpers } from '../helpers.js';

/** Forward branches up to this many bytes stay inside the TB. */
export const MAX_INTERNAL_JUMP = 256;
/** Guest instructions in one TB (before the loop extension, see translateArm). */
export const MAX_INSNS = 64;
/** Guest pages one TB may be translated from (it follows B / BL and predicted returns). */
const MAX_PAGES = 4;
/** Direct branches, calls and predicted returns one TB may follow. */
const MAX_FOLLOW = 8;
const KUSER_BASE = 0xffff0000;

const GLOBALS = Array.from({ length: NUM_SLOTS }, (_, i) => ({ name: i < 16 ? `r${i}` : `s${i}`, slot: i }));

/** Thrown by a decoder for an encoding it does not implement: the TB raises SIGILL there. */
export class Undefined extends Error {}

/**
 * Per-TB translation state and the small vocabulary decoders share:
 * register access (with PC reads folded to constants), branches, condition
 * tests, loads and stores, exceptions.
 */
/** ARM condition -> IR condition on the operands of a - b (eq ne cs cc, mi pl vs vc: none, hi ls ge lt gt le). */
const DIRECT_COND = [Cond.eq, Cond.ne, Cond.geu, Cond.ltu, -1, -1, -1, -1, Cond.gtu, Cond.leu, Cond.ge, Cond.lt, Cond.gt, Cond.le];

/** Does `o` write one of the four temps (ops without outputs write none)? */
function writesOneOf(o: IrOp, t1: number, t2: number, t3: number, t4: number): boolean {
  const op = o.op;
  if (op === Op.st || op === Op.br || op === Op.brcond || op === Op.label || op === Op.gotoTb || op === Op.exitTb || op === Op.insnStart) return false;
  const n = op === Op.mulu2 || op === Op.muls2 || op === Op.add2 || op === Op.sub2 ? 2 : 1;
  for (let k = 0; k < n; k++) { const d = o.args[k]!; if (d === t1 || d === t2 || d === t3 || d === t4) return true; }
  return false;
}

export class DisasContext {
  readonly b = new IrBuilder(GLOBALS);
  /** Address of the instruction being translated. */
  pc = 0;
  /** Address of the TB's first instruction (a goto back there becomes a loop). */
  tbPc = 0;
  /** Length in bytes of the instruction being translated. */
  len = 4;
  /** The TB has left through an unconditional exit; stop translating. */
  ended = false;
  /** The current instruction emitted an exit (maybe under a condition). */
  jumped = false;
  /** Forward branch targets inside this TB: address -> label. */
  readonly pendingTargets = new Map<number, number>();
  /** Next free goto_tb slot. */
  nextSlot = 0;
  /** IT block state: condition and remaining mask (Thumb). 0 = not in an IT block. */
  itState = 0;
  /** The current instruction is an IT instruction (the IT state is not advanced past it). */
  isIt = false;
  /** IT state the TB was entered with (part of its flags). */
  tbIt = 0;
  /** What CONDEXEC holds at this point of the TB's straight-line code. */
  condexecHeld = 0;
  /**
   * The last CMP / SUBS / RSBS (no carry in) of this TB: copies of its
   * operands and the op index after them (-1: none). A condition read while
   * no op since wrote a flag, called an impure helper or placed a label is a
   * direct compare of the operands (`cmp r1, r2; blt` is `r1 < r2`), so the
   * branch no longer waits on the N^V arithmetic; the flags are still stored.
   */
  cmpAt = -1;
  cmpA = 0;
  cmpB = 0;
  /** Label skipping the current conditional instruction, or -1. */
  condLabel = -1;
  /** The current instruction has a not-taken path that must continue to the next instruction. */
  condFallthrough = false;
  /**
   * Trace formation: where translation goes on after the current instruction
   * when it was an unconditional B / BL (or a predicted return) followed
   * inside the TB, else -1.
   */
  redirect = -1;
  /** Guest pages the TB's instructions come from (the TB cache invalidates it on a write to any). */
  readonly pages = new Set<number>();
  /** Addresses of instructions translated so far (a followed branch never goes back into them). */
  readonly translated = new Set<number>();
  /** Return addresses (with the Thumb bit, as BL leaves them in LR) of calls followed into. */
  readonly retStack: number[] = [];
  /** Predicted returns: taken when the real target differs (emitted at the TB's end). */
  readonly sideExits: { label: number; target: number; interwork: boolean; thumb: boolean }[] = [];
  private follows = 0;
  /** Follow B / BL and predict returns (ArmCpu option `traces`, off by default: see README, Speed). */
  traces = false;
  /**
   * Where this TB's indirect branch went every time so far (the register's
   * value: pc, with bit 0 set for Thumb), or -1. A hot TB is translated again
   * with it (TbCache, FrontEnd.retranslate): translation follows the first
   * indirect branch there behind a check, and a call's return is predicted.
   */
  hint = -1;
  /** The hint was followed. */
  hintUsed = false;

  /**
   * The instruction set being translated: the TB's own (`tbThumb`) until a
   * followed interworking branch (a hinted BLX / BX, a predicted return)
   * switches it; exits and side exits then store the state they leave in.
   */
  thumb: boolean;
  /** The instruction set the TB starts in (part of its flags). */
  readonly tbThumb: boolean;

  constructor(
    readonly mem: GuestMemory,
    thumb: boolean,
    readonly h: ArmHelpers,
  ) {
    this.thumb = this.tbThumb = thumb;
  }

  g(slot: number): number {
    return this.b.global(slot);
  }

  /** Value of register n as an operand (PC reads as the instruction address + 8, or + 4 in Thumb). */
  reg(n: number): number {
    if (n === 15) return this.b.c(this.pc + (this.thumb ? 4 : 8));
    return this.b.global(n);
  }

  /** PC aligned to 4, as literal loads and ADR see it. */
  pcAligned(): number {
    return (this.pc + (this.thumb ? 4 : 8)) & ~3;
  }

  temp(): number {
    return this.b.temp();
  }

  c(v: number): number {
    return this.b.c(v);
  }

  /** Write register n; a write to PC is a branch (interworking when `bx`; `ret`: a function return, e.g. a load from the stack). */
  setReg(n: number, t: number, bx = false, ret = false): void {
    if (n === 15) {
      if (bx || !this.thumb) this.bxReg(t, ret);
      else this.branchReg(t, ret);
      return;
    }
    this.b.mov(this.b.global(n), t);
  }

  /** IT state of the instruction after the current one (what an exit past it must leave in CONDEXEC). */
  itAfter(): number {
    const s = this.itState;
    if (this.isIt) return s;
    return (s & 7) === 0 ? 0 : (s & 0xe0) | ((s << 1) & 0x1f);
  }

  /**
   * At an instruction's start: make CONDEXEC hold its IT state, so a memory
   * fault (which leaves through the back end's own exit, with the globals)
   * reports it in the CPSR. Stored only where the state changes.
   */
  syncCondexec(): void {
    if (this.itState === this.condexecHeld) return;
    this.b.movi(this.g(S.CONDEXEC), this.itState);
    this.condexecHeld = this.itState;
  }

  /** On an exit path: store the IT state to resume with, if CONDEXEC does not hold it already. */
  private exitIt(it: number): void {
    if (it !== this.condexecHeld) this.b.movi(this.g(S.CONDEXEC), it);
  }

  /** Branch to an address held in a temp, switching instruction set on bit 0 (`link`: the return address a BLX left in LR). */
  bxReg(t: number, ret = false, link = -1): void {
    const b = this.b;
    if (b.isConst(t)) {
      const v = b.constValue(t);
      this.gotoPc(v & 1 ? v & ~1 : v & ~3, (v & 1) as 0 | 1);
      return;
    }
    if ((ret || t === this.g(S.LR)) && this.predictReturn(t, true)) return;
    if (this.followHint(t, true, link)) return;
    this.bxExit(t);
  }

  private bxExit(t: number): void {
    const b = this.b;
    this.exitIt(this.itAfter());
    const tt = b.temp();
    b.andi(tt, t, 1);
    b.mov(this.g(S.THUMB), tt);
    const dest = b.temp();
    b.andi(dest, t, ~1);
    b.mov(this.g(S.PC), dest);
    b.exitTb(EXIT_LOOKUP);
    this.jumped = true;
  }

  /** Branch without changing instruction set. */
  branchReg(t: number, ret = false): void {
    if (ret && this.predictReturn(t, false)) return;
    if (this.followHint(t, false, -1)) return;
    this.branchExit(t);
  }

  /**
   * The first indirect branch of a TB translated with a hint: compare the
   * target with it, go on translating there, and leave through a side exit
   * when they differ (as a predicted return). A call (`link`) also pushes its
   * return address, so the callee's return is predicted. qsort's loop
   * (`blx r5` to the comparison, its `bx lr` back) so becomes one TB.
   */
  private followHint(t: number, interwork: boolean, link: number): boolean {
    const h = this.hint;
    if (h === -1 || this.hintUsed || this.pendingAhead()) return false;
    const toThumb = (h & 1) === 1;
    if (toThumb !== this.thumb && !interwork) return false;
    const dest = toThumb ? h & ~1 : h;
    if (!this.canFollow(dest >>> 0, link !== -1, true)) return false;
    const b = this.b;
    const label = b.label();
    if (interwork) b.brcond(t, b.c(h), Cond.ne, label);
    else {
      const masked = b.temp();
      b.andi(masked, t, this.thumb ? ~1 : ~3);
      b.brcond(masked, b.c(dest), Cond.ne, label);
    }
    this.hintUsed = true;
    if (link !== -1) this.retStack.push(link);
    this.goOnChecked(label, t, interwork, dest, toThumb);
    return true;
  }

  /**
   * After a check that branches to `label` when target `t` is not the one
   * expected: that label becomes a side exit (emitted at the TB's end), and
   * translation goes on at `dest`. An interworking branch may change the
   * instruction set: the state says so from here on.
   */
  private goOnChecked(label: number, t: number, interwork: boolean, dest: number, toThumb: boolean): void {
    this.sideExits.push({ label, target: t, interwork, thumb: this.thumb });
    this.follows++;
    this.redirect = dest >>> 0;
    if (toThumb === this.thumb) return;
    this.thumb = toThumb;
    this.b.movi(this.g(S.THUMB), toThumb ? 1 : 0);
  }

  private branchExit(t: number): void {
    const b = this.b;
    this.exitIt(this.itAfter());
    const dest = b.temp();
    b.andi(dest, t, this.thumb ? ~1 : ~3);
    b.mov(this.g(S.PC), dest);
    b.exitTb(EXIT_LOOKUP);
    this.jumped = true;
  }

  /**
   * After an exit that ends the straight-line code (`n` instructions so
   * far): go on at the nearest pending forward branch target at or after
   * `from`, reached only through that branch, so in the TB's own instruction
   * set and outside any IT block. False when there is none, or the length
   * limit or its page ends the TB.
   */
  resumeAtPendingTarget(from: number, n: number): boolean {
    let resume = -1;
    for (const dest of this.pendingTargets.keys()) if (dest >= from && (resume < 0 || dest < resume)) resume = dest;
    if (resume < 0 || n + 1 >= MAX_INSNS || !this.pageOk(resume)) return false;
    this.pc = resume;
    this.itState = this.condexecHeld = 0;
    this.thumb = this.tbThumb;
    return true;
  }

  /**
   * Direct branch to a known address. A short forward branch (B, CBZ; not BL)
   * stays inside the TB as an IR branch to the label of its target, which the
   * translator places when it reaches that address (or turns into an exit if
   * the TB ends first). Otherwise the TB leaves through a new goto_tb slot.
   */
  gotoPc(dest: number, thumb: 0 | 1 = this.thumb ? 1 : 0, allowInternal = false, it = this.itAfter(), link = -1): void {
    const b = this.b;
    if (allowInternal && it === 0 && this.condexecHeld === 0 && (thumb === 1) === this.thumb && this.thumb === this.tbThumb && dest >>> 0 > this.pc && (dest >>> 0) - this.pc <= MAX_INTERNAL_JUMP) {
      let l = this.pendingTargets.get(dest >>> 0);
      if (l === undefined) { l = b.label(); this.pendingTargets.set(dest >>> 0, l); }
      b.br(l);
      return;
    }
    if ((link !== -1 || (allowInternal && !this.pendingAhead())) && it === 0 && (thumb === 1) === this.thumb && dest >>> 0 !== this.tbPc &&
      this.canFollow(dest >>> 0, link !== -1)) {
      // An unconditional B / BL: translation goes on at the target (a call
      // remembers its return address so the callee's return can be predicted).
      this.follows++;
      this.redirect = dest >>> 0;
      if (link !== -1) this.retStack.push(link);
      return;
    }
    const slot = this.nextSlot++;
    b.movi(this.g(S.PC), dest);
    this.exitIt(it);
    if ((thumb === 1) !== this.thumb) b.movi(this.g(S.THUMB), thumb);
    else if (dest >>> 0 === this.tbPc && it === this.tbIt && this.thumb === this.tbThumb && b.loopSlot === undefined) b.loopSlot = slot;
    b.gotoTb(slot);
    this.jumped = true;
  }

  /**
   * May translation continue at `dest` (a followed branch)? Only from
   * straight-line code outside IT blocks and conditions, to an instruction not
   * translated yet (a call may inline a function twice), on a page the TB has
   * already or that is executable now. Without `traces`, only a B that is the
   * TB's first instruction is followed: a trampoline such as a return point
   * `b loop_head` (busybox awk: 4 M of its 67 M TB entries) then costs no TB
   * transition of its own, and at most one block is copied per trampoline.
   * Following every B copied whole loops into other TBs (README, Speed).
   * `checked`: a branch whose target is compared at run time (a hinted
   * indirect branch, a predicted return), followed without `traces`.
   */
  private canFollow(dest: number, call = false, checked = false): boolean {
    if (!(this.traces || checked || (!call && this.b.icount === 1)) || this.condLabel >= 0 || this.itState !== 0 || this.condexecHeld !== 0 || this.follows >= MAX_FOLLOW) return false;
    if (dest >= KUSER_BASE || (!call && this.translated.has(dest))) return false;
    return this.pageOk(dest);
  }

  /**
   * Does a forward branch of this TB target code shortly after this instruction? Then
   * an unconditional B or return ends the straight line instead of being
   * followed, and translation resumes at that target (see translateArm).
   */
  private pendingAhead(): boolean {
    for (const dest of this.pendingTargets.keys()) if (dest > this.pc && dest - this.pc <= MAX_INTERNAL_JUMP) return true;
    return false;
  }

  /** May the TB take instructions from the page of `pc`? */
  pageOk(pc: number): boolean {
    const p = (pc >>> 0) >>> PAGE_BITS;
    if (this.pages.has(p)) return true;
    return this.pages.size < MAX_PAGES && (this.mem.perm[p]! & PERM_X) !== 0;
  }

  /**
   * A return (BX LR, POP {..., pc}, LDM with pc) inside a call this TB
   * followed: compare the target with the return address the BL left, go on
   * translating there, and leave through a side exit when they differ.
   */
  private predictReturn(t: number, interwork: boolean): boolean {
    const ret = this.retStack[this.retStack.length - 1];
    if (ret === undefined) return false;
    const toThumb = (ret & 1) === 1;
    const dest = toThumb ? ret & ~1 : ret;
    if ((toThumb !== this.thumb && !interwork) || this.pendingAhead() || !this.canFollow(dest >>> 0, false, true)) return false;
    this.retStack.pop();
    const label = this.b.label();
    this.b.brcond(t, this.b.c(ret), Cond.ne, label);
    this.goOnChecked(label, t, interwork, dest, toThumb);
    return true;
  }

  /** Emit the side exits of predicted returns (after the TB's last instruction). */
  finishSideExits(): void {
    this.itState = this.condexecHeld = 0;
    this.isIt = false;
    for (const e of this.sideExits) {
      this.b.setLabel(e.label);
      this.thumb = e.thumb; // the instruction set where the check was
      if (e.interwork) this.bxExit(e.target);
      else this.branchExit(e.target);
    }
  }

  /**
   * Leave the TB raising exception `excp`; pc is what the handler sees as the
   * return address. The IT state saved is the current instruction's when pc
   * is this instruction (UDF, BKPT), else the next one's (SVC).
   */
  raise(excp: number, pc: number, arg = 0): void {
    const b = this.b;
    b.movi(this.g(S.PC), pc);
    this.exitIt(pc === this.pc ? this.itState : this.itAfter());
    b.movi(this.g(S.EXCP), excp);
    b.movi(this.g(S.EXCP_ARG), arg);
    b.exitTb(EXIT_EXCEPTION);
    this.jumped = true;
  }

  undefinedInsn(insn: number): void {
    this.raise(Excp.UDEF, this.pc, insn);
  }

  /** Make the rest of the current instruction conditional on `cond`. */
  beginCond(cond: number): void {
    if (cond >= 14) return;
    this.condLabel = this.b.label();
    this.condBranch(cond ^ 1, this.condLabel);
  }

  startIt(firstCondAndMask: number): void {
    this.itState = firstCondAndMask;
    this.isIt = true;
  }

  /** Emit a branch to `label` taken when ARM condition `cond` holds. */
  condBranch(cond: number, label: number): void {
    const b = this.b;
    const direct = this.compareCond(cond);
    if (direct >= 0) { b.brcond(this.cmpA, this.cmpB, direct as CondCode, label); return; }
    const z = b.c(0);
    switch (cond) {
      case 0: b.brcond(this.g(S.ZF), z, Cond.eq, label); return;
      case 1: b.brcond(this.g(S.ZF), z, Cond.ne, label); return;
      case 2: b.brcond(this.g(S.CF), z, Cond.ne, label); return;
      case 3: b.brcond(this.g(S.CF), z, Cond.eq, label); return;
      case 4: b.brcond(this.g(S.NF), z, Cond.lt, label); return;
      case 5: b.brcond(this.g(S.NF), z, Cond.ge, label); return;
      case 6: b.brcond(this.g(S.VF), z, Cond.lt, label); return;
      case 7: b.brcond(this.g(S.VF), z, Cond.ge, label); return;
      case 8: case 9: {
        const t = b.temp();
        b.neg(t, this.g(S.CF));
        b.and(t, t, this.g(S.ZF));
        b.brcond(t, z, cond === 8 ? Cond.ne : Cond.eq, label);
        return;
      }
      case 10: case 11: {
        const t = b.temp();
        b.xor(t, this.g(S.NF), this.g(S.VF));
        b.brcond(t, z, cond === 10 ? Cond.ge : Cond.lt, label);
        return;
      }
      case 12: case 13: {
        const t = b.temp();
        b.xor(t, this.g(S.NF), this.g(S.VF));
        b.sari(t, t, 31);
        b.andc(t, this.g(S.ZF), t);
        b.brcond(t, z, cond === 12 ? Cond.ne : Cond.eq, label);
        return;
      }
      default: b.br(label);
    }
  }

  /** Record a flag-setting a - b (see cmpAt). */
  noteCompare(a: number, bv: number): void {
    const b = this.b;
    const ta = b.temp(), tb = b.temp();
    b.mov(ta, a);
    b.mov(tb, bv);
    this.cmpA = ta;
    this.cmpB = tb;
    this.cmpAt = b.ops.length;
  }

  /** The IR condition equal to ARM `cond` on the recorded compare's operands, or -1 (none, stale, or N / V alone). */
  private compareCond(cond: number): number {
    if (this.cmpAt < 0) return -1;
    const c = DIRECT_COND[cond] ?? -1;
    if (c < 0) return -1;
    const ops = this.b.ops, helpers = this.b.helpers;
    if (this.cmpAt > ops.length) { this.cmpAt = -1; return -1; }
    const nf = this.g(S.NF), zf = this.g(S.ZF), cf = this.g(S.CF), vf = this.g(S.VF);
    for (let i = this.cmpAt; i < ops.length; i++) {
      const o = ops[i]!;
      if (o.op === Op.label || (o.op === Op.call && !helpers[o.args[1]!]!.pure) || writesOneOf(o, nf, zf, cf, vf)) {
        this.cmpAt = -1;
        return -1;
      }
    }
    return c;
  }

  /** Boolean temp (0/1) that is 1 when ARM condition `cond` holds. */
  condValue(cond: number): number {
    const b = this.b;
    const t = b.temp();
    const skip = b.label();
    b.movi(t, 1);
    this.condBranch(cond, skip);
    b.movi(t, 0);
    b.setLabel(skip);
    return t;
  }

  ld(memop: number, addr: number): number {
    const t = this.b.temp();
    this.b.ld(t, addr, memop);
    return t;
  }

  st(v: number, addr: number, memop: number): void {
    this.b.st(v, addr, memop);
  }

  ld32(addr: number): number { return this.ld(MemOp.u32, addr); }

  /** addr + off as a new temp. */
  addImm(a: number, off: number): number {
    if (off === 0) return a;
    const t = this.b.temp();
    this.b.addi(t, a, off);
    return t;
  }

  // Flag setters.
  setNZ(res: number): void {
    this.b.mov(this.g(S.NF), res);
    this.b.mov(this.g(S.ZF), res);
  }

  cmpCond(c: CondCode): CondCode {
    return c;
  }
}
