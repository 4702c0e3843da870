import { S } from '../cpu-state.js';
import { Alu, dataProc, immOperand, shiftImm, type Operand } from './alu.js';
import { Undefined, type DisasContext } from './context.js';
import { translateCoproc } from './coproc.js';
import { msr } from './a32.js';
import * as X from './media.js';
import { t32LoadStoreMultiple, t32DualExclusiveTable, t32LoadStoreSingle } from './t32-mem.js';
import { t32DataProcessingReg, t32Multiply, t32LongMultiply } from './t32-reg.js';

const bits = (x: number, hi: number, lo: number): number => (x >>> lo) & ((1 << (hi - lo + 1)) - 1);
const bit = (x: number, n: number): boolean => ((x >>> n) & 1) !== 0;

/** Thumb-2 data-processing opcodes (bits 24..21 of the 32-bit word) mapped to ALU operations. */
const T32_ALU = [Alu.AND, Alu.BIC, Alu.ORR, Alu.ORN, Alu.EOR, -1, -1, -1, Alu.ADD, -1, Alu.ADC, Alu.SBC, -1, Alu.SUB, Alu.RSB, -1];

/** Translate one 32-bit Thumb instruction; `insn` is hw1 << 16 | hw2. */
export function translateT32(ctx: DisasContext, insn: number): void {
  const op1 = bits(insn, 28, 27), op2 = bits(insn, 26, 20);
  if (op1 === 1) {
    if ((op2 & 0x64) === 0) return t32LoadStoreMultiple(ctx, insn);
    if ((op2 & 0x64) === 4) return t32DualExclusiveTable(ctx, insn);
    if ((op2 & 0x60) === 0x20) return dataProcessingShifted(ctx, insn);
    return coproc(ctx, insn);
  }
  if (op1 === 2) {
    if (bit(insn, 15)) return branchesMisc(ctx, insn);
    if (bit(insn, 25)) return plainImmediate(ctx, insn);
    return modifiedImmediate(ctx, insn);
  }
  if ((op2 & 0x71) === 0x10) throw new Undefined(); // Advanced SIMD element load/store
  if ((op2 & 0x60) === 0) return t32LoadStoreSingle(ctx, insn);
  if ((op2 & 0x70) === 0x20) return t32DataProcessingReg(ctx, insn);
  if ((op2 & 0x78) === 0x30) return t32Multiply(ctx, insn);
  if ((op2 & 0x78) === 0x38) return t32LongMultiply(ctx, insn);
  return coproc(ctx, insn);
}

function coproc(ctx: DisasContext, insn: number): void {
  if (bit(insn, 28)) throw new Undefined(); // 0xF top nibble: Advanced SIMD / "2" forms
  translateCoproc(ctx, insn);
}

function aluOp(ctx: DisasContext, op: number, s: boolean, rd: number, rn: number, op2: Operand): void {
  let alu = T32_ALU[op]!;
  if (alu < 0) throw new Undefined();
  if (rd === 15 && s) {
    if (alu === Alu.AND) alu = Alu.TST;
    else if (alu === Alu.EOR) alu = Alu.TEQ;
    else if (alu === Alu.ADD) alu = Alu.CMN;
    else if (alu === Alu.SUB) alu = Alu.CMP;
  }
  if (rn === 15) {
    if (alu === Alu.ORR) alu = Alu.MOV;
    else if (alu === Alu.ORN) alu = Alu.MVN;
  }
  dataProc(ctx, alu, s, rd, rn === 15 ? ctx.c(0) : ctx.reg(rn), op2);
}

const logicalOp = (op: number): boolean => op <= 4;

function dataProcessingShifted(ctx: DisasContext, insn: number): void {
  const op = bits(insn, 24, 21), s = bit(insn, 20), rn = bits(insn, 19, 16);
  const rd = bits(insn, 11, 8), rm = insn & 0xf;
  const amount = (bits(insn, 14, 12) << 2) | bits(insn, 7, 6), type = bits(insn, 5, 4);
  if (op === 6) return X.pack(ctx, rd, rn, rm, bit(insn, 5), amount); // PKHBT / PKHTB
  aluOp(ctx, op, s, rd, rn, shiftImm(ctx, ctx.reg(rm), type, amount, s && logicalOp(op)));
}

/** ThumbExpandImm: the constant and whether it was rotated (which sets the carry). */
export function thumbExpandImm(imm12: number): [number, boolean] {
  const imm8 = imm12 & 0xff;
  if ((imm12 >>> 10) === 0) {
    switch ((imm12 >>> 8) & 3) {
      case 0: return [imm8, false];
      case 1: return [(imm8 << 16) | imm8, false];
      case 2: return [((imm8 << 24) | (imm8 << 8)) | 0, false];
      default: return [((imm8 << 24) | (imm8 << 16) | (imm8 << 8) | imm8) | 0, false];
    }
  }
  const unrot = 0x80 | (imm12 & 0x7f), rot = imm12 >>> 7;
  return [((unrot >>> rot) | (unrot << (32 - rot))) | 0, true];
}

function modifiedImmediate(ctx: DisasContext, insn: number): void {
  const op = bits(insn, 24, 21), s = bit(insn, 20), rn = bits(insn, 19, 16), rd = bits(insn, 11, 8);
  const imm12 = (bits(insn, 26, 26) << 11) | (bits(insn, 14, 12) << 8) | (insn & 0xff);
  const [value, rotated] = thumbExpandImm(imm12);
  aluOp(ctx, op, s, rd, rn, immOperand(ctx, value, rotated, s && logicalOp(op)));
}

function plainImmediate(ctx: DisasContext, insn: number): void {
  const op = bits(insn, 24, 20), rn = bits(insn, 19, 16), rd = bits(insn, 11, 8);
  const imm12 = (bits(insn, 26, 26) << 11) | (bits(insn, 14, 12) << 8) | (insn & 0xff);
  const shAmount = (bits(insn, 14, 12) << 2) | bits(insn, 7, 6);
  const b = ctx.b;
  switch (op) {
    case 0: case 10: { // ADDW / SUBW (ADR when rn is PC)
      const base = rn === 15 ? ctx.c(ctx.pcAligned()) : ctx.reg(rn);
      const t = b.temp();
      b.addi(t, base, op === 0 ? imm12 : -imm12);
      return ctx.setReg(rd, t);
    }
    case 4: return ctx.setReg(rd, ctx.c((rn << 12) | imm12));
    case 12: {
      const t = b.temp();
      b.ext16u(t, ctx.reg(rd));
      b.or(t, t, ctx.c(((rn << 12) | imm12) << 16));
      return ctx.setReg(rd, t);
    }
    case 16: case 18:
      if (op === 18 && shAmount === 0) return X.saturate16(ctx, rd, rn, (insn & 0xf) + 1, false);
      return X.saturate(ctx, rd, rn, (insn & 0x1f) + 1, false, op === 18, shAmount);
    case 24: case 26:
      if (op === 26 && shAmount === 0) return X.saturate16(ctx, rd, rn, insn & 0xf, true);
      return X.saturate(ctx, rd, rn, insn & 0x1f, true, op === 26, shAmount);
    case 20: return X.bitExtract(ctx, rd, rn, shAmount, (insn & 0x1f) + 1, true);
    case 22: return X.bitInsert(ctx, rd, rn, shAmount, insn & 0x1f);
    case 28: return X.bitExtract(ctx, rd, rn, shAmount, (insn & 0x1f) + 1, false);
  }
  throw new Undefined();
}

function branchesMisc(ctx: DisasContext, insn: number): void {
  const op1 = bits(insn, 14, 12), op = bits(insn, 26, 20);
  const b = ctx.b;
  const s = bits(insn, 26, 26), j1 = bits(insn, 13, 13), j2 = bits(insn, 11, 11);
  if ((op1 & 5) === 0) {
    if ((op & 0x38) !== 0x38) { // B<cond> T3
      const off = (((s << 20) | (j2 << 19) | (j1 << 18) | (bits(insn, 21, 16) << 12) | ((insn & 0x7ff) << 1)) << 11) >> 11;
      ctx.beginCond(bits(insn, 25, 22));
      return ctx.gotoPc(ctx.pc + 4 + off, 1, true);
    }
    switch (op) {
      case 0x38: case 0x39: return msr(ctx, bits(insn, 11, 10), ctx.reg(bits(insn, 19, 16)));
      case 0x3a: if ((insn & 0x7ff) < 0x100) return; break; // NOP, YIELD, WFE, WFI, SEV
      case 0x3b: {
        const k = bits(insn, 7, 4);
        if (k === 2) { b.movi(ctx.g(S.EXCL_ADDR), -1); return; } // CLREX
        if (k >= 4 && k <= 6) return; // DSB DMB ISB
        break;
      }
      case 0x3e: case 0x3f: { const t = ctx.temp(); b.call(ctx.h.getCpsr, t); return ctx.setReg(bits(insn, 11, 8), t); }
    }
    throw new Undefined();
  }
  const i1 = (j1 ^ s) ^ 1, i2 = (j2 ^ s) ^ 1;
  const off = (((s << 24) | (i1 << 23) | (i2 << 22) | (bits(insn, 25, 16) << 12) | ((insn & 0x7ff) << 1)) << 7) >> 7;
  if ((op1 & 5) === 1) return ctx.gotoPc(ctx.pc + 4 + off, 1, true); // B T4
  b.movi(ctx.g(S.LR), (ctx.pc + 4) | 1);
  if (op1 & 1) return ctx.gotoPc(ctx.pc + 4 + off, 1, false, undefined, (ctx.pc + 4) | 1); // BL
  if (insn & 1) throw new Undefined();
  return ctx.gotoPc(((ctx.pc + 4) & ~3) + off, 0); // BLX to ARM
}
