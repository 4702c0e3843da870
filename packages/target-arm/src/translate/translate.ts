import { Cond, MemOp, PAGE_BITS, neverOptimize, type IrBlock } from '@tsemu/tcg';
import { S } from '../cpu-state.js';
import type { ArmHelpers } from '../helpers.js';
import type { GuestMemory } from '@tsemu/tcg';
import { DisasContext, MAX_INSNS, Undefined } from './context.js';
import { translateA32 } from './a32.js';
import { translateT16 } from './t16.js';
import { translateT32 } from './t32.js';
import { loadStore, loadStoreDual, loadStoreMultiple } from './memops.js';

/** TB flags: bit 0 = Thumb state, bits 8:1 = IT state at the TB's first instruction. */
export const TB_FLAG_THUMB = 1;
export const TB_FLAG_IT_SHIFT = 1;

/** How far past MAX_INSNS loopCloses looks for a branch back to the TB's start. */
const LOOP_LOOKAHEAD = 24;

/**
 * Instructions from `from` up to and including a B (or B<cond>) to `start`
 * within LOOP_LOOKAHEAD straight-line instructions, or 0. A heuristic (it
 * only decodes lengths and B): the translator still decides what the TB
 * holds, so a wrong guess only makes one TB a little longer.
 */
function loopCloses(ctx: DisasContext, from: number, thumb: boolean, start: number): number {
  const mem = ctx.mem;
  let a = from >>> 0;
  for (let k = 1; k <= LOOP_LOOKAHEAD; k++) {
    if (!ctx.pageOk(a) || !ctx.pageOk(a + 3)) return 0;
    if (thumb) {
      const hw = mem.ld16(a);
      if (hw >= 0xe800) {
        const hw2 = mem.ld16(a + 2);
        if ((hw & 0xf800) === 0xf000 && (hw2 & 0xd000) === 0x9000) { // B.W (T4)
          const s = (hw >>> 10) & 1, i1 = ((hw2 >>> 13) & 1) ^ s ^ 1, i2 = ((hw2 >>> 11) & 1) ^ s ^ 1;
          const off = ((((s << 24) | (i1 << 23) | (i2 << 22) | ((hw & 0x3ff) << 12) | ((hw2 & 0x7ff) << 1)) << 7) >> 7);
          return ((a + 4 + off) >>> 0) === start ? k : 0;
        }
        if ((hw & 0xf800) === 0xf000 && (hw2 & 0xc000) === 0xc000) return 0; // BL / BLX
        if ((hw & 0xf800) === 0xf000 && (hw2 & 0xd000) === 0x8000 && ((hw >>> 6) & 0xf) < 14) { // B<cond>.W (T3)
          const off = ((((hw >>> 10) & 1) << 20) | (((hw2 >>> 11) & 1) << 19) | (((hw2 >>> 13) & 1) << 18) | ((hw & 0x3f) << 12) | ((hw2 & 0x7ff) << 1)) << 11 >> 11;
          if (((a + 4 + off) >>> 0) === start) return k;
        }
        a += 4;
        continue;
      }
      if ((hw & 0xf800) === 0xe000) return ((a + 4 + (((hw & 0x7ff) << 21) >> 20)) >>> 0) === start ? k : 0; // B (T2)
      if ((hw & 0xf000) === 0xd000 && ((hw >>> 8) & 0xf) < 14 && ((a + 4 + (((hw & 0xff) << 24) >> 23)) >>> 0) === start) return k; // B<cond> (T1)
      if ((hw & 0xff00) === 0xbd00 || (hw & 0xff00) === 0x4700 || (hw & 0xff00) === 0xdf00) return 0; // POP {pc}, BX/BLX, SVC
      a += 2;
    } else {
      const w = mem.ld32(a);
      if (w >>> 24 === 0xea) return ((a + 8 + ((w << 8) >> 6)) >>> 0) === start ? k : 0; // B (always)
      if ((w & 0x0f000000) === 0x0a000000 && w >>> 28 < 14 && ((a + 8 + ((w << 8) >> 6)) >>> 0) === start) return k; // B<cond>
      a += 4;
    }
  }
  return 0;
}
const KUSER_BASE = 0xffff0000;

/**
 * Translate one TB: a run of instructions up to a branch, MAX_INSNS or a page
 * the TB may not run on to (it may cross into the next page when that one is
 * executable; an instruction may straddle a boundary). After an unconditional
 * exit, translation resumes at a pending forward branch target, so a loop
 * whose exit test jumps over a return or a call stays one TB. A B that is
 * the TB's first instruction is followed to its target; with `traces` every
 * B / BL and predicted return is (DisasContext.canFollow); with `hint` (the
 * target a hot TB's indirect branch always took) the first indirect branch
 * is followed there behind a check (DisasContext.followHint). A TB
 * may start or end inside an IT block: the IT state comes in with the flags,
 * CONDEXEC follows it at instruction starts where it changes, and exits
 * store the state to resume with (see DisasContext.itAfter). Each
 * instruction is decoded to IR; an encoding the decoders do not know raises
 * SIGILL at that instruction.
 */
export function translateArm(
  mem: GuestMemory, h: ArmHelpers, pc: number, flags: number, traces = false, hint = -1, stops?: readonly { pc: number; flags: number }[],
  colds?: ReadonlySet<number>,
): { ir: IrBlock; end: number; pages?: number[]; hinted?: boolean; stopped?: boolean; colded?: boolean } {
  const tbThumb = (flags & TB_FLAG_THUMB) !== 0;
  const ctx = new DisasContext(mem, tbThumb, h);
  ctx.traces = traces;
  ctx.pc = ctx.tbPc = pc >>> 0;
  if (ctx.pc >= KUSER_BASE) {
    kuserHelper(ctx);
    return { ir: ctx.b.finish(), end: ctx.pc + 4 };
  }
  ctx.hint = hint;
  const b = ctx.b;
  // CONDEXEC holds the TB's entry IT state (the flags were derived from it).
  if (tbThumb) ctx.itState = ctx.tbIt = ctx.condexecHeld = (flags >>> TB_FLAG_IT_SHIFT) & 0xff;
  let limit = MAX_INSNS;
  let stopped = false, colded = false;
  for (let n = 0; ; n++) {
    const target = ctx.pendingTargets.get(ctx.pc);
    // (Forward branches inside the TB are only made in its own instruction set.)
    if (target !== undefined && ctx.thumb === ctx.tbThumb) {
      b.setLabel(target);
      ctx.pendingTargets.delete(ctx.pc);
    }
    // A TB that loops on itself starts here (TbCache's stops): leave for it rather than copy its loop.
    if (n > 0 && stops !== undefined && isStop(stops, ctx.pc, (ctx.thumb ? TB_FLAG_THUMB : 0) | (ctx.itState << TB_FLAG_IT_SHIFT))) {
      ctx.gotoPc(ctx.pc, ctx.thumb ? 1 : 0, false, ctx.itState);
      stopped = true;
      break;
    }
    // An instruction the TB's interpreted runs never reached (TbCache's colds):
    // leave for it, so it is not compiled here; go on at a forward branch target.
    if (n > 0 && colds !== undefined && colds.has(ctx.pc)) {
      ctx.gotoPc(ctx.pc, ctx.thumb ? 1 : 0, false, ctx.itState);
      colded = true;
      if (!ctx.resumeAtPendingTarget(ctx.pc, n)) break;
      continue;
    }
    b.insnStart(ctx.pc);
    ctx.translated.add(ctx.pc);
    ctx.redirect = -1;
    ctx.jumped = false;
    ctx.condLabel = -1;
    ctx.condFallthrough = false;
    ctx.isIt = false;
    // The instruction set of this instruction: a followed interworking branch switches ctx.thumb for the next one.
    const thumb = ctx.thumb;
    let insn: number;
    if (thumb) {
      const hw1 = mem.ld16(ctx.pc);
      if (hw1 >= 0xe800) { insn = ((hw1 << 16) | mem.ld16(ctx.pc + 2)) | 0; ctx.len = 4; }
      else { insn = hw1; ctx.len = 2; }
    } else {
      insn = mem.ld32(ctx.pc);
      ctx.len = 4;
    }
    const inIt = thumb && ctx.itState !== 0;
    if (thumb) ctx.syncCondexec();
    const mark = b.ops.length;
    try {
      if (inIt) ctx.beginCond(ctx.itState >>> 4);
      else if (!thumb && insn >>> 28 < 14) ctx.beginCond(insn >>> 28);
      if (!thumb) translateA32(ctx, insn);
      else if (ctx.len === 2) translateT16(ctx, insn);
      else translateT32(ctx, insn);
    } catch (e) {
      if (!(e instanceof Undefined)) throw e;
      b.ops.length = mark;
      ctx.thumb = thumb;
      ctx.redirect = -1;
      ctx.condLabel = -1;
      ctx.cmpAt = -1; // it may point into the dropped ops
      ctx.undefinedInsn(insn);
    }
    if (thumb && inIt && !ctx.isIt) {
      ctx.itState = (ctx.itState & 7) === 0 ? 0 : (ctx.itState & 0xe0) | ((ctx.itState << 1) & 0x1f);
    }
    ctx.pages.add(ctx.pc >>> PAGE_BITS).add(((ctx.pc + ctx.len - 1) >>> 0) >>> PAGE_BITS);
    const next = ctx.redirect >= 0 ? ctx.redirect : ctx.pc + ctx.len;
    if (ctx.condLabel >= 0) {
      b.setLabel(ctx.condLabel);
      if (ctx.jumped) ctx.condFallthrough = true;
    }
    ctx.pc = next;
    if (ctx.jumped && !ctx.condFallthrough) {
      // An unconditional exit ends the straight-line code. If a forward branch
      // of this TB targets code further on, translation resumes there (reached
      // only through that branch, outside any IT block), so e.g. a loop whose
      // exit test jumps over a return stays one TB and can become a JS loop.
      if (!ctx.resumeAtPendingTarget(next, n)) break;
      continue;
    }
    // The length limit, or the next instruction on a page the TB may not run
    // on to, ends the TB; either may split an IT block: the next TB resumes
    // in ctx.itState.
    if (n + 1 >= limit || !ctx.pageOk(next)) {
      // A loop whose back edge lies just past the limit (bzip2's hottest
      // loops: a 64-instruction superblock and a 5-instruction tail, two TB
      // transitions per iteration) runs on to that branch once, so the TB
      // loops on itself. Only the straight line: no resuming past MAX_INSNS.
      const extra = limit === MAX_INSNS && ctx.itState === 0 && ctx.thumb === ctx.tbThumb && ctx.pageOk(next)
        ? loopCloses(ctx, next, ctx.thumb, pc >>> 0) : 0;
      if (extra > 0) {
        limit += extra;
        continue;
      }
      ctx.gotoPc(next, ctx.thumb ? 1 : 0, false, ctx.itState);
      break;
    }
  }
  // Forward branch targets the TB did not reach become exits, and so do
  // mispredicted returns.
  ctx.thumb = ctx.tbThumb; // pending targets belong to the TB's own instructions
  for (const [dest, label] of ctx.pendingTargets) {
    b.setLabel(label);
    ctx.gotoPc(dest, tbThumb ? 1 : 0, false, 0); // internal branches are never taken inside an IT block
  }
  ctx.finishSideExits();
  return { ir: b.finish(), end: ctx.pc, pages: [...ctx.pages], hinted: ctx.hintUsed, stopped, colded };
}

function isStop(stops: readonly { pc: number; flags: number }[], pc: number, flags: number): boolean {
  for (const s of stops) if (s.pc >>> 0 === pc >>> 0 && s.flags === flags) return true;
  return false;
}

/**
 * The kernel's user helpers at 0xffff0fxx (ARM code the guest calls): get_tls,
 * cmpxchg and the memory barrier, expressed directly as IR that returns to lr.
 */
function kuserHelper(ctx: DisasContext): void {
  const b = ctx.b;
  b.insnStart(ctx.pc);
  switch (ctx.pc) {
    case 0xffff0fe0: b.mov(ctx.g(0), ctx.g(S.TLS)); break;
    case 0xffff0fa0: break;
    case 0xffff0fc0: { // r0 = old, r1 = new, r2 = ptr; r0 = 0 and C = 1 on success
      const cur = ctx.ld(MemOp.u32, ctx.g(2));
      const fail = b.label(), done = b.label();
      b.brcond(cur, ctx.g(0), Cond.ne, fail);
      b.st(ctx.g(1), ctx.g(2), MemOp.u32);
      b.movi(ctx.g(0), 0);
      b.movi(ctx.g(S.CF), 1);
      b.br(done);
      b.setLabel(fail);
      b.movi(ctx.g(0), 1);
      b.movi(ctx.g(S.CF), 0);
      b.setLabel(done);
      break;
    }
    default:
      ctx.raise(4, ctx.pc);
      return;
  }
  ctx.bxReg(ctx.g(S.LR));
}

export { Undefined };

// The decoders and the translation context run at translation time only: kept
// out of TurboFan, whose compiles of them cost more than they save (@tsemu/tcg never-optimize.ts).
neverOptimize(translateArm, translateT16, translateT32, loadStore, loadStoreDual, loadStoreMultiple, DisasContext);
