import { Cond } from '@tsemu/tcg';
import { MAX_INSNS, MAX_INTERNAL_JUMP, type DisasContext } from './context.js';

/**
 * A32 `ADD pc, pc, rm {, shift}`: a jump into the code right after it, as
 * glibc's ARM memcpy enters an unrolled run of LDR / STR pairs at a point
 * chosen by the length. Without help every entry point became a TB of its
 * own holding the rest of the run (the CPU kernels: 15 such TBs, a quarter
 * of their TurboFan time). Here, when the target is an instruction between
 * this one and the next unconditional branch or return, the TB goes on there
 * through its own labels (a binary search on the offset; the translator
 * resumes at those addresses like at any forward branch target); any other
 * target leaves as an indirect branch does. Returns false (nothing emitted)
 * where this does not apply.
 */
export function computedJump(ctx: DisasContext, target: number): boolean {
  // Internal labels exist only in the TB's own instruction set, outside conditions held in CONDEXEC.
  if (ctx.thumb || ctx.tbThumb || ctx.condexecHeld !== 0) return false;
  const b = ctx.b;
  const first = (ctx.pc + 4) >>> 0;
  const n = straightLineAhead(ctx, first, Math.min(MAX_INTERNAL_JUMP >> 2, MAX_INSNS - b.icount));
  if (n < 2) return false;
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const addr = (first + 4 * i) >>> 0;
    let l = ctx.pendingTargets.get(addr);
    if (l === undefined) { l = b.label(); ctx.pendingTargets.set(addr, l); }
    labels.push(l);
  }
  const off = b.temp(), low = b.temp(), other = b.label();
  b.sub(off, target, b.c(first | 0));
  b.brcond(off, b.c((n - 1) * 4), Cond.gtu, other);
  b.andi(low, off, 3); // bit 0: a switch to Thumb; bit 1: not an instruction boundary
  b.brcond(low, b.c(0), Cond.ne, other);
  search(ctx, off, labels, 0, n - 1);
  b.setLabel(other);
  ctx.bxReg(target);
  return true;
}

/** Branches to labels[i] for off = 4 * i, lo <= i <= hi (a balanced tree of unsigned compares). */
function search(ctx: DisasContext, off: number, labels: number[], lo: number, hi: number): void {
  const b = ctx.b;
  if (lo === hi) { b.br(labels[lo]!); return; }
  const mid = (lo + hi + 1) >> 1;
  const upper = b.label();
  b.brcond(off, b.c(mid * 4), Cond.geu, upper);
  search(ctx, off, labels, lo, mid - 1);
  b.setLabel(upper);
  search(ctx, off, labels, mid, hi);
}

/**
 * How many A32 instructions from `from` (at most `max`) run in a straight
 * line: up to and including the first unconditional branch, return, load or
 * data-processing write to pc, or SVC, and only on pages the TB may use. A
 * heuristic bound on the jump's targets; a jump past it just leaves the TB.
 */
function straightLineAhead(ctx: DisasContext, from: number, max: number): number {
  for (let k = 0; k < max; k++) {
    const a = (from + 4 * k) >>> 0;
    if (!ctx.pageOk(a)) return k;
    const w = ctx.mem.ld32(a);
    if (w >>> 28 === 15) return k + 1; // the unconditional space (BLX immediate and others)
    if (w >>> 28 !== 14) continue;
    if ((w & 0x0e000000) === 0x0a000000 || // B, BL
      (w & 0x0ffffff0) === 0x012fff10 || (w & 0x0ffffff0) === 0x012fff30 || // BX, BLX register
      (w & 0x0e108000) === 0x08108000 || // LDM with pc
      (w & 0x0c10f000) === 0x0410f000 || // LDR pc
      (w & 0x0c00f000) === 0x0000f000 || // data processing (and others) writing pc
      (w & 0x0f000000) === 0x0f000000) return k + 1; // SVC
  }
  return max;
}
