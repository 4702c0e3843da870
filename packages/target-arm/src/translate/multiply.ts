import type { DisasContext } from './context.js';

// Multiply and divide semantics shared by the A32 and Thumb-2 decoders.

/** MUL / MLA / MLS: rd = rn*rm (+ ra, or ra - rn*rm). Flags: N, Z only. */
export function mul(ctx: DisasContext, rd: number, rn: number, rm: number, ra: number, setFlags: boolean, subtract = false): void {
  const b = ctx.b;
  const r = b.temp();
  b.mul(r, ctx.reg(rn), ctx.reg(rm));
  if (ra >= 0) {
    if (subtract) b.sub(r, ctx.reg(ra), r);
    else b.add(r, r, ctx.reg(ra));
  }
  if (setFlags) ctx.setNZ(r);
  ctx.setReg(rd, r);
}

/** UMULL / SMULL / UMLAL / SMLAL. Flags (S): N from bit 63, Z from the 64-bit value. */
export function mulLong(ctx: DisasContext, rdLo: number, rdHi: number, rn: number, rm: number, signed: boolean, acc: boolean, setFlags: boolean): void {
  const b = ctx.b;
  const lo = b.temp(), hi = b.temp();
  if (signed) b.muls2(lo, hi, ctx.reg(rn), ctx.reg(rm));
  else b.mulu2(lo, hi, ctx.reg(rn), ctx.reg(rm));
  if (acc) b.add2(lo, hi, lo, hi, ctx.reg(rdLo), ctx.reg(rdHi));
  if (setFlags) {
    const z = b.temp();
    b.or(z, lo, hi);
    ctx.b.mov(ctx.g(17), z);
    ctx.b.mov(ctx.g(16), hi);
  }
  ctx.setReg(rdLo, lo);
  ctx.setReg(rdHi, hi);
}

/** UMAAL: rdHi:rdLo = rn*rm + rdLo + rdHi (unsigned). */
export function umaal(ctx: DisasContext, rdLo: number, rdHi: number, rn: number, rm: number): void {
  const b = ctx.b;
  const lo = b.temp(), hi = b.temp(), z = ctx.c(0);
  b.mulu2(lo, hi, ctx.reg(rn), ctx.reg(rm));
  b.add2(lo, hi, lo, hi, ctx.reg(rdLo), z);
  b.add2(lo, hi, lo, hi, ctx.reg(rdHi), z);
  ctx.setReg(rdLo, lo);
  ctx.setReg(rdHi, hi);
}

function half(ctx: DisasContext, reg: number, top: boolean): number {
  const t = ctx.temp();
  if (top) ctx.b.sari(t, ctx.reg(reg), 16);
  else ctx.b.ext16s(t, ctx.reg(reg));
  return t;
}

/** SMULxy / SMLAxy (accumulate sets Q on overflow). */
export function smulxy(ctx: DisasContext, rd: number, rn: number, rm: number, nTop: boolean, mTop: boolean, ra: number): void {
  const b = ctx.b;
  const r = b.temp();
  b.mul(r, half(ctx, rn, nTop), half(ctx, rm, mTop));
  if (ra >= 0) b.call(ctx.h.addSetQ, r, r, ctx.reg(ra));
  ctx.setReg(rd, r);
}

/** SMULWy / SMLAWy: (rn * rm.half) >> 16. */
export function smulwy(ctx: DisasContext, rd: number, rn: number, rm: number, mTop: boolean, ra: number): void {
  const b = ctx.b;
  const lo = b.temp(), hi = b.temp(), r = b.temp();
  b.muls2(lo, hi, ctx.reg(rn), half(ctx, rm, mTop));
  b.shri(lo, lo, 16);
  b.shli(hi, hi, 16);
  b.or(r, lo, hi);
  if (ra >= 0) b.call(ctx.h.addSetQ, r, r, ctx.reg(ra));
  ctx.setReg(rd, r);
}

/** SMLALxy: 64-bit accumulate of a 16x16 product. */
export function smlalxy(ctx: DisasContext, rdLo: number, rdHi: number, rn: number, rm: number, nTop: boolean, mTop: boolean): void {
  const b = ctx.b;
  const p = b.temp(), ph = b.temp(), lo = b.temp(), hi = b.temp();
  b.mul(p, half(ctx, rn, nTop), half(ctx, rm, mTop));
  b.sari(ph, p, 31);
  b.add2(lo, hi, ctx.reg(rdLo), ctx.reg(rdHi), p, ph);
  ctx.setReg(rdLo, lo);
  ctx.setReg(rdHi, hi);
}

/** SMMUL / SMMLA / SMMLS (optionally rounded): the top word of a 64-bit product. */
export function smmul(ctx: DisasContext, rd: number, rn: number, rm: number, ra: number, round: boolean, subtract: boolean): void {
  const b = ctx.b;
  const lo = b.temp(), hi = b.temp(), z = ctx.c(0);
  b.muls2(lo, hi, ctx.reg(rn), ctx.reg(rm));
  if (ra >= 0) {
    if (subtract) b.sub2(lo, hi, z, ctx.reg(ra), lo, hi);
    else b.add2(lo, hi, lo, hi, z, ctx.reg(ra));
  }
  if (round) b.add2(lo, hi, lo, hi, ctx.c(0x80000000), z);
  ctx.setReg(rd, hi);
}

/** SMUAD / SMUSD / SMLAD / SMLSD. */
export function dualMul(ctx: DisasContext, rd: number, rn: number, rm: number, ra: number, subtract: boolean, swap: boolean): void {
  const r = ctx.temp();
  ctx.b.call(ctx.h.dualMul, r, ctx.reg(rn), ctx.reg(rm), ra >= 0 ? ctx.reg(ra) : ctx.c(0), ctx.c((subtract ? 1 : 0) | (swap ? 2 : 0)));
  ctx.setReg(rd, r);
}

/** SDIV / UDIV (divide by zero gives 0: user-mode ARMv7 does not trap). */
export function div(ctx: DisasContext, rd: number, rn: number, rm: number, signed: boolean): void {
  const r = ctx.temp();
  if (signed) ctx.b.divs(r, ctx.reg(rn), ctx.reg(rm));
  else ctx.b.divu(r, ctx.reg(rn), ctx.reg(rm));
  ctx.setReg(rd, r);
}
