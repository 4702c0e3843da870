import { MemOp } from '@tsemu/tcg';
import { S, Excp } from '../cpu-state.js';
import { Alu, dataProc, immOperand, shiftImm, shiftReg } from './alu.js';
import { Undefined, type DisasContext } from './context.js';
import { loadExclusive, loadStore, loadStoreDual, loadStoreMultiple, storeExclusive } from './memops.js';
import { translateA32Media } from './a32-media.js';
import * as M from './multiply.js';
import { translateCoproc } from './coproc.js';
import { computedJump } from './computed-jump.js';

const bits = (x: number, hi: number, lo: number): number => (x >>> lo) & ((1 << (hi - lo + 1)) - 1);
const bit = (x: number, n: number): boolean => ((x >>> n) & 1) !== 0;

/** Translate one A32 instruction (the condition is handled by the caller). */
export function translateA32(ctx: DisasContext, insn: number): void {
  if (insn >>> 28 === 0xf) return translateUnconditional(ctx, insn);
  switch (bits(insn, 27, 25)) {
    case 0:
      if ((insn & 0x90) === 0x90) {
        if ((insn & 0x60) === 0) {
          if (bits(insn, 27, 24) === 0) return multiply(ctx, insn);
          return synchronization(ctx, insn);
        }
        return extraLoadStore(ctx, insn);
      }
      if ((insn & 0x01900000) === 0x01000000) return miscellaneous(ctx, insn);
      return dataProcessingReg(ctx, insn);
    case 1:
      if ((insn & 0x01900000) === 0x01000000) return movwMovtHints(ctx, insn);
      return dataProcessingImm(ctx, insn);
    case 2: return loadStoreWord(ctx, insn, false);
    case 3:
      if (bit(insn, 4)) return translateA32Media(ctx, insn);
      return loadStoreWord(ctx, insn, true);
    case 4: {
      const rn = bits(insn, 19, 16);
      return loadStoreMultiple(ctx, bit(insn, 20), rn, insn & 0xffff, bit(insn, 23), bit(insn, 24), bit(insn, 21));
    }
    case 5: {
      const off = (insn << 8) >> 6;
      if (bit(insn, 24)) ctx.b.movi(ctx.g(S.LR), ctx.pc + 4);
      return ctx.gotoPc((ctx.pc + 8 + off) | 0, 0, !bit(insn, 24), undefined, bit(insn, 24) ? ctx.pc + 4 : -1);
    }
    default:
      if (bits(insn, 27, 24) === 0xf) return ctx.raise(Excp.SWI, ctx.pc + 4, insn & 0xffffff);
      return translateCoproc(ctx, insn);
  }
}

function translateUnconditional(ctx: DisasContext, insn: number): void {
  if (bits(insn, 27, 25) === 5) { // BLX immediate: to Thumb
    const off = ((insn << 8) >> 6) | (bit(insn, 24) ? 2 : 0);
    ctx.b.movi(ctx.g(S.LR), ctx.pc + 4);
    return ctx.gotoPc((ctx.pc + 8 + off) | 0, 1);
  }
  if ((insn & 0xfffffff0) === 0xf57ff010) { ctx.b.movi(ctx.g(S.EXCL_ADDR), -1); return; } // CLREX
  if ((insn & 0xffffff00) === 0xf57ff000 && bits(insn, 7, 4) >= 4 && bits(insn, 7, 4) <= 6) return; // DSB DMB ISB
  if ((insn & 0x0d70f000) === 0x0550f000 || (insn & 0x0d70f000) === 0x0510f000 || (insn & 0x0f70f000) === 0x0450f000) return; // PLD PLDW PLI
  if (bits(insn, 27, 24) === 0xe || bits(insn, 27, 25) === 6) return translateCoproc(ctx, insn); // MCR2/LDC2...: undefined there
  throw new Undefined();
}

function multiply(ctx: DisasContext, insn: number): void {
  const rd = bits(insn, 19, 16), ra = bits(insn, 15, 12), rm = bits(insn, 11, 8), rn = bits(insn, 3, 0);
  const s = bit(insn, 20);
  switch (bits(insn, 23, 21)) {
    case 0: return M.mul(ctx, rd, rn, rm, -1, s);
    case 1: return M.mul(ctx, rd, rn, rm, ra, s);
    case 2: if (s) throw new Undefined(); return M.umaal(ctx, ra, rd, rn, rm);
    case 3: if (s) throw new Undefined(); return M.mul(ctx, rd, rn, rm, ra, false, true);
    case 4: return M.mulLong(ctx, ra, rd, rn, rm, false, false, s);
    case 5: return M.mulLong(ctx, ra, rd, rn, rm, false, true, s);
    case 6: return M.mulLong(ctx, ra, rd, rn, rm, true, false, s);
    default: return M.mulLong(ctx, ra, rd, rn, rm, true, true, s);
  }
}

function synchronization(ctx: DisasContext, insn: number): void {
  const rn = bits(insn, 19, 16), rt = bits(insn, 15, 12), rm = bits(insn, 3, 0);
  const b = ctx.b;
  if (!bit(insn, 23)) { // SWP / SWPB
    const mo = bit(insn, 22) ? MemOp.u8 : MemOp.u32;
    const addr = b.temp();
    b.mov(addr, ctx.reg(rn));
    const old = ctx.ld(mo, addr);
    ctx.st(ctx.reg(rm), addr, mo);
    return ctx.setReg(rt, old);
  }
  const op = bits(insn, 22, 21);
  const mo = [MemOp.u32, MemOp.u32, MemOp.u8, MemOp.u16][op]!;
  const addr = ctx.reg(rn);
  if (bit(insn, 20)) return loadExclusive(ctx, mo, rt, op === 1 ? rt + 1 : -1, addr);
  return storeExclusive(ctx, mo, rt, rm, op === 1 ? rm + 1 : -1, addr);
}

function extraLoadStore(ctx: DisasContext, insn: number): void {
  const p = bit(insn, 24), u = bit(insn, 23), imm = bit(insn, 22), w = bit(insn, 21), l = bit(insn, 20);
  const rn = bits(insn, 19, 16), rt = bits(insn, 15, 12), op2 = bits(insn, 6, 5);
  const b = ctx.b;
  let off: number;
  if (imm) off = ctx.c(u ? (bits(insn, 11, 8) << 4) | (insn & 0xf) : -((bits(insn, 11, 8) << 4) | (insn & 0xf)));
  else if (u) off = ctx.reg(insn & 0xf);
  else { off = b.temp(); b.neg(off, ctx.reg(insn & 0xf)); }
  const wb = !p || w;
  switch (op2) {
    case 1: return loadStore(ctx, l, MemOp.u16, rt, rn, off, p, wb);
    case 2: return l ? loadStore(ctx, true, MemOp.s8, rt, rn, off, p, wb) : loadStoreDual(ctx, true, rt, rt + 1, rn, off, p, wb);
    default: return l ? loadStore(ctx, true, MemOp.s16, rt, rn, off, p, wb) : loadStoreDual(ctx, false, rt, rt + 1, rn, off, p, wb);
  }
}

function miscellaneous(ctx: DisasContext, insn: number): void {
  const op = bits(insn, 22, 21), op2 = bits(insn, 6, 4);
  const rd = bits(insn, 15, 12), rn = bits(insn, 19, 16), rm = bits(insn, 3, 0), rs = bits(insn, 11, 8);
  if (bit(insn, 7)) { // halfword multiplies
    const x = bit(insn, 5), y = bit(insn, 6);
    switch (op) {
      case 0: return M.smulxy(ctx, rn, rm, rs, x, y, rd);
      case 1: return x ? M.smulwy(ctx, rn, rm, rs, y, -1) : M.smulwy(ctx, rn, rm, rs, y, rd);
      case 2: return M.smlalxy(ctx, rd, rn, rm, rs, x, y);
      default: return M.smulxy(ctx, rn, rm, rs, x, y, -1);
    }
  }
  switch (op2) {
    case 0:
      if (op & 1) return msr(ctx, bits(insn, 19, 18), ctx.reg(rm));
      { const t = ctx.temp(); ctx.b.call(ctx.h.getCpsr, t); return ctx.setReg(rd, t); }
    case 1:
      if (op === 1) return ctx.bxReg(ctx.reg(rm));
      if (op === 3) { const t = ctx.temp(); ctx.b.clz(t, ctx.reg(rm)); return ctx.setReg(rd, t); }
      break;
    case 3:
      if (op === 1) {
        const target = ctx.temp();
        ctx.b.mov(target, ctx.reg(rm));
        ctx.b.movi(ctx.g(S.LR), ctx.pc + 4);
        return ctx.bxReg(target, false, ctx.pc + 4);
      }
      break;
    case 5: { const r = ctx.temp(); ctx.b.call([ctx.h.qadd, ctx.h.qsub, ctx.h.qdadd, ctx.h.qdsub][op]!, r, ctx.reg(rm), ctx.reg(rn)); return ctx.setReg(rd, r); }
    case 7: if (op === 1) return ctx.raise(Excp.BKPT, ctx.pc, insn); break;
  }
  throw new Undefined();
}

/** MSR APSR_<mask>: bit 1 = nzcvq, bit 0 = g. */
export function msr(ctx: DisasContext, mask: number, v: number): void {
  ctx.b.call(ctx.h.setCpsr, -1, v, ctx.c(mask));
}

function dataProcessingReg(ctx: DisasContext, insn: number): void {
  const op = bits(insn, 24, 21), s = bit(insn, 20);
  const rn = bits(insn, 19, 16), rd = bits(insn, 15, 12), rm = bits(insn, 3, 0);
  const logicalS = s && (op === Alu.AND || op === Alu.EOR || op === Alu.TST || op === Alu.TEQ || op >= Alu.ORR);
  const op2 = bit(insn, 4)
    ? shiftReg(ctx, ctx.reg(rm), bits(insn, 6, 5), ctx.reg(bits(insn, 11, 8)), logicalS)
    : shiftImm(ctx, ctx.reg(rm), bits(insn, 6, 5), bits(insn, 11, 7), logicalS);
  if (rd === 15 && rn === 15 && op === Alu.ADD && !s) {
    // ADD pc, pc, rm: a jump into the code that follows (computed-jump.ts).
    const target = ctx.temp();
    ctx.b.add(target, ctx.reg(15), op2.value);
    if (!computedJump(ctx, target)) ctx.setReg(15, target);
    return;
  }
  dataProc(ctx, op, s, rd, ctx.reg(rn), op2);
}

function dataProcessingImm(ctx: DisasContext, insn: number): void {
  const op = bits(insn, 24, 21), s = bit(insn, 20);
  const rot = bits(insn, 11, 8) * 2, imm = insn & 0xff;
  const value = rot ? (imm >>> rot) | (imm << (32 - rot)) : imm;
  const logicalS = s && (op === Alu.AND || op === Alu.EOR || op === Alu.TST || op === Alu.TEQ || op >= Alu.ORR);
  const rn = bits(insn, 19, 16);
  // ADR (ADD/SUB rd, pc, #imm) reads the aligned PC.
  const rnVal = rn === 15 ? ctx.c(ctx.pcAligned()) : ctx.reg(rn);
  dataProc(ctx, op, s, bits(insn, 15, 12), rnVal, immOperand(ctx, value | 0, rot !== 0, logicalS));
}

function movwMovtHints(ctx: DisasContext, insn: number): void {
  const rd = bits(insn, 15, 12);
  const imm16 = (bits(insn, 19, 16) << 12) | (insn & 0xfff);
  switch (bits(insn, 22, 21)) {
    case 0: return ctx.setReg(rd, ctx.c(imm16));
    case 2: {
      const t = ctx.temp();
      ctx.b.ext16u(t, ctx.reg(rd));
      ctx.b.or(t, t, ctx.c(imm16 << 16));
      return ctx.setReg(rd, t);
    }
    default:
      if (bits(insn, 19, 16) === 0 && bit(insn, 21) && !bit(insn, 22)) return; // NOP, YIELD, WFE, WFI, SEV, DBG
      if (bit(insn, 21) && !bit(insn, 22)) {
        const rot = bits(insn, 11, 8) * 2, imm = insn & 0xff;
        return msr(ctx, bits(insn, 19, 18), ctx.c(rot ? (imm >>> rot) | (imm << (32 - rot)) : imm));
      }
      throw new Undefined();
  }
}

function loadStoreWord(ctx: DisasContext, insn: number, reg: boolean): void {
  const p = bit(insn, 24), u = bit(insn, 23), byte = bit(insn, 22), w = bit(insn, 21), l = bit(insn, 20);
  const rn = bits(insn, 19, 16), rt = bits(insn, 15, 12);
  const b = ctx.b;
  let off: number;
  if (!reg) off = ctx.c(u ? insn & 0xfff : -(insn & 0xfff));
  else {
    const sh = shiftImm(ctx, ctx.reg(insn & 0xf), bits(insn, 6, 5), bits(insn, 11, 7), false).value;
    if (u) off = sh;
    else { off = b.temp(); b.neg(off, sh); }
  }
  loadStore(ctx, l, byte ? MemOp.u8 : MemOp.u32, rt, rn, off, p, !p || w);
}
