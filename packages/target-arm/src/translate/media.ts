import type { DisasContext } from './context.js';
import { S } from '../cpu-state.js';

// Bit-manipulation and media semantics shared by the A32 and Thumb-2 decoders.

/** Extend kinds: SXTB16, SXTB, SXTH, UXTB16, UXTB, UXTH (A32 op field order 0,2,3,4,6,7). */
export const Ext = { SXTB16: 0, SXTB: 2, SXTH: 3, UXTB16: 4, UXTB: 6, UXTH: 7 } as const;

/** SXTB/UXTH/... with optional add (rn != 15) and rotation of rm by rot*8. */
export function extend(ctx: DisasContext, kind: number, rd: number, rn: number, rm: number, rot: number): void {
  const b = ctx.b;
  let v = ctx.reg(rm);
  if (rot) { const t = b.temp(); b.rotr(t, v, ctx.c(rot * 8)); v = t; }
  const r = b.temp();
  switch (kind) {
    case Ext.SXTB: b.ext8s(r, v); break;
    case Ext.SXTH: b.ext16s(r, v); break;
    case Ext.UXTB: b.ext8u(r, v); break;
    case Ext.UXTH: b.ext16u(r, v); break;
    case Ext.UXTB16: b.andi(r, v, 0x00ff00ff); break;
    case Ext.SXTB16: {
      const lo = b.temp(), hi = b.temp();
      b.ext8s(lo, v); b.ext16u(lo, lo);
      b.shri(hi, v, 16); b.ext8s(hi, hi); b.shli(hi, hi, 16);
      b.or(r, lo, hi);
      break;
    }
    default: ctx.undefinedInsn(0); return;
  }
  if (rn !== 15) {
    if (kind === Ext.UXTB16 || kind === Ext.SXTB16) {
      // Halfword-wise add.
      const n = ctx.reg(rn), lo = b.temp(), hi = b.temp();
      b.add(lo, n, r); b.ext16u(lo, lo);
      b.andi(hi, n, 0xffff0000 | 0); const rh = b.temp(); b.andi(rh, r, 0xffff0000 | 0);
      b.add(hi, hi, rh);
      b.or(r, lo, hi);
    } else b.add(r, r, ctx.reg(rn));
  }
  ctx.setReg(rd, r);
}

export function rev(ctx: DisasContext, kind: 'rev' | 'rev16' | 'revsh' | 'rbit' | 'clz', rd: number, rm: number): void {
  const b = ctx.b;
  const v = ctx.reg(rm), r = b.temp();
  switch (kind) {
    case 'rev': b.bswap32(r, v); break;
    case 'rev16': {
      const t = b.temp();
      b.shri(t, v, 8); b.andi(t, t, 0x00ff00ff);
      b.shli(r, v, 8); b.andi(r, r, 0xff00ff00 | 0);
      b.or(r, r, t);
      break;
    }
    case 'revsh': {
      const t = b.temp();
      b.shri(t, v, 8); b.ext8u(t, t);
      b.shli(r, v, 24); b.sari(r, r, 16);
      b.or(r, r, t);
      break;
    }
    case 'rbit': b.call(ctx.h.rbit, r, v); break;
    case 'clz': b.clz(r, v); break;
  }
  ctx.setReg(rd, r);
}

/** UBFX / SBFX: extract `width` bits at `lsb`. */
export function bitExtract(ctx: DisasContext, rd: number, rn: number, lsb: number, width: number, signed: boolean): void {
  const b = ctx.b;
  const r = b.temp();
  if (lsb + width > 32) { ctx.undefinedInsn(0); return; }
  b.shli(r, ctx.reg(rn), 32 - lsb - width);
  if (signed) b.sari(r, r, 32 - width);
  else b.shri(r, r, 32 - width);
  ctx.setReg(rd, r);
}

/** BFI (rn != 15) / BFC: insert bits lsb..msb. */
export function bitInsert(ctx: DisasContext, rd: number, rn: number, lsb: number, msb: number): void {
  const b = ctx.b;
  if (msb < lsb) { ctx.undefinedInsn(0); return; }
  const width = msb - lsb + 1;
  const mask = (width === 32 ? -1 : ((1 << width) - 1) << lsb) | 0;
  const r = b.temp();
  b.andi(r, ctx.reg(rd), ~mask);
  if (rn !== 15) {
    const t = b.temp();
    b.shli(t, ctx.reg(rn), lsb);
    b.andi(t, t, mask);
    b.or(r, r, t);
  }
  ctx.setReg(rd, r);
}

/** SSAT / USAT with an optional shift (LSL, or ASR when `asr`). */
export function saturate(ctx: DisasContext, rd: number, rn: number, satTo: number, unsigned: boolean, asr: boolean, amount: number): void {
  const b = ctx.b;
  let v = ctx.reg(rn);
  if (amount || asr) {
    const t = b.temp();
    if (asr) b.sari(t, v, amount === 0 ? 31 : amount);
    else b.shli(t, v, amount);
    v = t;
  }
  const r = b.temp();
  b.call(unsigned ? ctx.h.usat : ctx.h.ssat, r, v, ctx.c(satTo));
  ctx.setReg(rd, r);
}

export function saturate16(ctx: DisasContext, rd: number, rn: number, satTo: number, unsigned: boolean): void {
  const r = ctx.temp();
  ctx.b.call(unsigned ? ctx.h.usat16 : ctx.h.ssat16, r, ctx.reg(rn), ctx.c(satTo));
  ctx.setReg(rd, r);
}

/** PKHBT / PKHTB. */
export function pack(ctx: DisasContext, rd: number, rn: number, rm: number, tb: boolean, amount: number): void {
  const b = ctx.b;
  const m = b.temp(), r = b.temp();
  if (tb) {
    b.sari(m, ctx.reg(rm), amount === 0 ? 31 : amount);
    b.ext16u(m, m);
    b.andi(r, ctx.reg(rn), 0xffff0000 | 0);
  } else {
    b.shli(m, ctx.reg(rm), amount);
    b.andi(m, m, 0xffff0000 | 0);
    b.ext16u(r, ctx.reg(rn));
  }
  b.or(r, r, m);
  ctx.setReg(rd, r);
}

/** Parallel add/subtract; prefix 1 S, 2 Q, 3 SH, 5 U, 6 UQ, 7 UH; op 0..5 = ADD16 ASX SAX SUB16 ADD8 SUB8. */
export function parallel(ctx: DisasContext, rd: number, rn: number, rm: number, prefix: number, op: number): void {
  const r = ctx.temp();
  if (prefix === 5 && op === 4) { // UADD8: result and GE from two pure helpers (see media-helpers.ts)
    const ge = ctx.temp();
    ctx.b.call(ctx.h.uadd8ge, ge, ctx.reg(rn), ctx.reg(rm));
    ctx.b.call(ctx.h.uadd8, r, ctx.reg(rn), ctx.reg(rm));
    ctx.b.mov(ctx.g(S.GE), ge);
    ctx.setReg(rd, r);
    return;
  }
  if (prefix === 6 && op === 5) ctx.b.call(ctx.h.uqsub8, r, ctx.reg(rn), ctx.reg(rm)); // UQSUB8: pure, no GE
  else ctx.b.call((prefix & 3) === 1 ? ctx.h.parallel : ctx.h.parallelPure, r, ctx.c(prefix), ctx.c(op), ctx.reg(rn), ctx.reg(rm));
  ctx.setReg(rd, r);
}

/** QADD / QSUB / QDADD / QDSUB (operands: rm op rn). */
export function satArith(ctx: DisasContext, op: number, rd: number, rn: number, rm: number): void {
  const h = [ctx.h.qadd, ctx.h.qsub, ctx.h.qdadd, ctx.h.qdsub][op]!;
  const r = ctx.temp();
  ctx.b.call(h, r, ctx.reg(rm), ctx.reg(rn));
  ctx.setReg(rd, r);
}

export function sel(ctx: DisasContext, rd: number, rn: number, rm: number): void {
  const r = ctx.temp();
  ctx.b.call(ctx.h.sel, r, ctx.reg(rn), ctx.reg(rm), ctx.g(S.GE));
  ctx.setReg(rd, r);
}

export function usad8(ctx: DisasContext, rd: number, rn: number, rm: number, ra: number): void {
  const r = ctx.temp();
  ctx.b.call(ctx.h.usad8, r, ctx.reg(rn), ctx.reg(rm));
  if (ra !== 15) ctx.b.add(r, r, ctx.reg(ra));
  ctx.setReg(rd, r);
}
