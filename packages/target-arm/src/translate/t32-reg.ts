import { Alu, dataProc, shiftReg } from './alu.js';
import { Undefined, type DisasContext } from './context.js';
import * as X from './media.js';
import * as M from './multiply.js';

const bits = (x: number, hi: number, lo: number): number => (x >>> lo) & ((1 << (hi - lo + 1)) - 1);
const bit = (x: number, n: number): boolean => ((x >>> n) & 1) !== 0;

const EXT = [X.Ext.SXTH, X.Ext.UXTH, X.Ext.SXTB16, X.Ext.UXTB16, X.Ext.SXTB, X.Ext.UXTB];
// Thumb-2 parallel op field (bits 22..20) to the helper's ADD16 ASX SAX SUB16 ADD8 SUB8 numbering.
const PAR: Record<number, number> = { 0: 4, 1: 0, 2: 1, 4: 5, 5: 3, 6: 2 };

/** Data processing (register): shifts by register, extends, parallel arithmetic, misc. */
export function t32DataProcessingReg(ctx: DisasContext, insn: number): void {
  const op1 = bits(insn, 23, 20), op2 = bits(insn, 7, 4);
  const rn = bits(insn, 19, 16), rd = bits(insn, 11, 8), rm = insn & 0xf;
  if (op1 < 8 && op2 === 0) { // LSL/LSR/ASR/ROR (register)
    const s = bit(insn, 20);
    return dataProc(ctx, Alu.MOV, s, rd, 0, shiftReg(ctx, ctx.reg(rn), bits(insn, 22, 21), ctx.reg(rm), s));
  }
  if (op1 < 6 && (op2 & 8)) return X.extend(ctx, EXT[op1]!, rd, rn, rm, bits(insn, 5, 4));
  if (op1 >= 8 && op2 < 8) {
    const op = PAR[op1 & 7];
    if (op === undefined || (op2 & 3) === 3) throw new Undefined();
    const prefix = (op2 & 4 ? 4 : 0) + (op2 & 3) + 1;
    return X.parallel(ctx, rd, rn, rm, prefix, op);
  }
  if ((op1 & 0xc) === 8 && (op2 & 0xc) === 8) {
    const k = op2 & 3;
    switch (op1 & 3) {
      case 0: return X.satArith(ctx, [0, 2, 1, 3][k]!, rd, rn, rm);
      case 1: return X.rev(ctx, (['rev', 'rev16', 'rbit', 'revsh'] as const)[k], rd, rm);
      case 2: if (k === 0) return X.sel(ctx, rd, rn, rm); break;
      case 3: if (k === 0) return X.rev(ctx, 'clz', rd, rm); break;
    }
  }
  throw new Undefined();
}

/** Multiply, multiply-accumulate and USAD8 (32-bit results). */
export function t32Multiply(ctx: DisasContext, insn: number): void {
  const op1 = bits(insn, 22, 20), op2 = bits(insn, 5, 4);
  const rn = bits(insn, 19, 16), ra = bits(insn, 15, 12), rd = bits(insn, 11, 8), rm = insn & 0xf;
  const acc = ra === 15 ? -1 : ra;
  switch (op1) {
    case 0:
      if (op2 === 0) return M.mul(ctx, rd, rn, rm, acc, false);
      if (op2 === 1) return M.mul(ctx, rd, rn, rm, ra, false, true);
      break;
    case 1: return M.smulxy(ctx, rd, rn, rm, bit(insn, 5), bit(insn, 4), acc);
    case 2: if (op2 < 2) return M.dualMul(ctx, rd, rn, rm, acc, false, bit(insn, 4)); break;
    case 3: if (op2 < 2) return M.smulwy(ctx, rd, rn, rm, bit(insn, 4), acc); break;
    case 4: if (op2 < 2) return M.dualMul(ctx, rd, rn, rm, acc, true, bit(insn, 4)); break;
    case 5: if (op2 < 2) return M.smmul(ctx, rd, rn, rm, acc, bit(insn, 4), false); break;
    case 6: if (op2 < 2) return M.smmul(ctx, rd, rn, rm, ra, bit(insn, 4), true); break;
    case 7: if (op2 === 0) return X.usad8(ctx, rd, rn, rm, ra); break;
  }
  throw new Undefined();
}

/** Long multiplies and divides. */
export function t32LongMultiply(ctx: DisasContext, insn: number): void {
  const op1 = bits(insn, 22, 20), op2 = bits(insn, 7, 4);
  const rn = bits(insn, 19, 16), rdLo = bits(insn, 15, 12), rdHi = bits(insn, 11, 8), rm = insn & 0xf;
  switch (op1) {
    case 0: if (op2 === 0) return M.mulLong(ctx, rdLo, rdHi, rn, rm, true, false, false); break;
    case 1: if (op2 === 15) return M.div(ctx, rdHi, rn, rm, true); break;
    case 2: if (op2 === 0) return M.mulLong(ctx, rdLo, rdHi, rn, rm, false, false, false); break;
    case 3: if (op2 === 15) return M.div(ctx, rdHi, rn, rm, false); break;
    case 4:
      if (op2 === 0) return M.mulLong(ctx, rdLo, rdHi, rn, rm, true, true, false);
      if ((op2 & 0xc) === 8) return M.smlalxy(ctx, rdLo, rdHi, rn, rm, bit(insn, 5), bit(insn, 4));
      break;
    case 6:
      if (op2 === 0) return M.mulLong(ctx, rdLo, rdHi, rn, rm, false, true, false);
      if (op2 === 6) return M.umaal(ctx, rdLo, rdHi, rn, rm);
      break;
  }
  throw new Undefined();
}
