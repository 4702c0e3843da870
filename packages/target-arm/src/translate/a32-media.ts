import { Undefined, type DisasContext } from './context.js';
import * as X from './media.js';
import * as M from './multiply.js';

const bits = (x: number, hi: number, lo: number): number => (x >>> lo) & ((1 << (hi - lo + 1)) - 1);
const bit = (x: number, n: number): boolean => ((x >>> n) & 1) !== 0;

const PAR_OP: Record<number, number> = { 0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 7: 5 };

/** A32 media instructions (op1 = 011, bit 4 set). */
export function translateA32Media(ctx: DisasContext, insn: number): void {
  const op1 = bits(insn, 24, 20), op2 = bits(insn, 7, 5);
  const rd = bits(insn, 15, 12), rn = bits(insn, 19, 16), rm = bits(insn, 3, 0);
  if (op1 < 8) { // parallel add/subtract
    const prefix = op1 & 7, op = PAR_OP[op2];
    if (prefix === 0 || prefix === 4 || op === undefined) throw new Undefined();
    return X.parallel(ctx, rd, rn, rm, prefix, op);
  }
  if (op1 < 16) { // packing, unpacking, saturation, reversal
    const rot = bits(insn, 11, 10);
    if (op1 === 8 && (op2 & 1) === 0) return X.pack(ctx, rd, rn, rm, bit(insn, 6), bits(insn, 11, 7));
    if ((op1 & 0x1e) === 0xa && (op2 & 1) === 0) return X.saturate(ctx, rd, rm, bits(insn, 20, 16) + 1, false, bit(insn, 6), bits(insn, 11, 7));
    if ((op1 & 0x1e) === 0xe && (op2 & 1) === 0) return X.saturate(ctx, rd, rm, bits(insn, 20, 16), true, bit(insn, 6), bits(insn, 11, 7));
    switch ((op1 << 3) | op2) {
      case (8 << 3) | 3: return X.extend(ctx, X.Ext.SXTB16, rd, rn, rm, rot);
      case (8 << 3) | 5: return X.sel(ctx, rd, rn, rm);
      case (10 << 3) | 1: return X.saturate16(ctx, rd, rm, bits(insn, 19, 16) + 1, false);
      case (10 << 3) | 3: return X.extend(ctx, X.Ext.SXTB, rd, rn, rm, rot);
      case (11 << 3) | 1: return X.rev(ctx, 'rev', rd, rm);
      case (11 << 3) | 3: return X.extend(ctx, X.Ext.SXTH, rd, rn, rm, rot);
      case (11 << 3) | 5: return X.rev(ctx, 'rev16', rd, rm);
      case (12 << 3) | 3: return X.extend(ctx, X.Ext.UXTB16, rd, rn, rm, rot);
      case (14 << 3) | 1: return X.saturate16(ctx, rd, rm, bits(insn, 19, 16), true);
      case (14 << 3) | 3: return X.extend(ctx, X.Ext.UXTB, rd, rn, rm, rot);
      case (15 << 3) | 1: return X.rev(ctx, 'rbit', rd, rm);
      case (15 << 3) | 3: return X.extend(ctx, X.Ext.UXTH, rd, rn, rm, rot);
      case (15 << 3) | 5: return X.rev(ctx, 'revsh', rd, rm);
    }
    throw new Undefined();
  }
  // Signed multiplies, divide, USAD8, bitfields: rd is bits 19..16, ra bits 15..12, rm bits 11..8.
  const mrd = rn, ra = rd, mrm = bits(insn, 11, 8), mrn = rm;
  switch (op1) {
    case 16:
      if (op2 < 2) return M.dualMul(ctx, mrd, mrn, mrm, ra === 15 ? -1 : ra, false, bit(insn, 5));
      if (op2 < 4) return M.dualMul(ctx, mrd, mrn, mrm, ra === 15 ? -1 : ra, true, bit(insn, 5));
      break;
    case 17: if (op2 === 0) return M.div(ctx, mrd, mrn, mrm, true); break;
    case 19: if (op2 === 0) return M.div(ctx, mrd, mrn, mrm, false); break;
    case 21:
      if (op2 < 2) return M.smmul(ctx, mrd, mrn, mrm, ra === 15 ? -1 : ra, bit(insn, 5), false);
      if (op2 === 6 || op2 === 7) return M.smmul(ctx, mrd, mrn, mrm, ra, bit(insn, 5), true);
      break;
    case 24: if (op2 === 0) return X.usad8(ctx, mrd, mrn, mrm, ra); break;
    case 26: case 27: if ((op2 & 3) === 2) return X.bitExtract(ctx, rd, rm, bits(insn, 11, 7), bits(insn, 20, 16) + 1, true); break;
    case 28: case 29: if ((op2 & 3) === 0) return X.bitInsert(ctx, rd, rm, bits(insn, 11, 7), bits(insn, 20, 16)); break;
    case 30: case 31: if ((op2 & 3) === 2) return X.bitExtract(ctx, rd, rm, bits(insn, 11, 7), bits(insn, 20, 16) + 1, false); break;
  }
  throw new Undefined();
}
