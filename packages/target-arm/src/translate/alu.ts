import { Cond } from '@tsemu/tcg';
import { S } from '../cpu-state.js';
import type { DisasContext } from './context.js';

/** Data-processing operations, numbered as in the A32 encoding; ORN is Thumb-2 only. */
export const Alu = {
  AND: 0, EOR: 1, SUB: 2, RSB: 3, ADD: 4, ADC: 5, SBC: 6, RSC: 7,
  TST: 8, TEQ: 9, CMP: 10, CMN: 11, ORR: 12, MOV: 13, BIC: 14, MVN: 15, ORN: 16,
} as const;

/** Shift types as encoded: LSL, LSR, ASR, ROR (ROR #0 = RRX for immediate shifts). */
export const Shift = { LSL: 0, LSR: 1, ASR: 2, ROR: 3 } as const;

/**
 * An operand after the shifter. `carry` is the shifter carry-out temp when it
 * differs from C (null: C unchanged), used only by flag-setting logical ops.
 */
export interface Operand {
  value: number;
  carry: number | null;
}

/** Shift by an immediate (the encoding's amount: 0 means 32 for LSR/ASR, RRX for ROR). */
export function shiftImm(ctx: DisasContext, v: number, type: number, amount: number, wantCarry: boolean): Operand {
  const b = ctx.b;
  if (type === Shift.LSL && amount === 0) return { value: v, carry: null };
  const r = b.temp();
  let carry: number | null = null;
  if (wantCarry) carry = b.temp();
  switch (type) {
    case Shift.LSL:
      if (carry !== null) { b.shri(carry, v, 32 - amount); b.andi(carry, carry, 1); }
      b.shli(r, v, amount);
      break;
    case Shift.LSR:
      if (amount === 0) amount = 32;
      if (carry !== null) { b.shri(carry, v, amount - 1); b.andi(carry, carry, 1); }
      if (amount === 32) b.movi(r, 0); else b.shri(r, v, amount);
      break;
    case Shift.ASR:
      if (amount === 0) amount = 32;
      if (carry !== null) { b.shri(carry, v, amount - 1); b.andi(carry, carry, 1); }
      b.sari(r, v, amount === 32 ? 31 : amount);
      break;
    default:
      if (amount === 0) { // RRX
        if (carry !== null) b.andi(carry, v, 1);
        const t = b.temp();
        b.shli(t, ctx.g(S.CF), 31);
        b.shri(r, v, 1);
        b.or(r, r, t);
      } else {
        b.rotr(r, v, b.c(amount));
        if (carry !== null) b.shri(carry, r, 31);
      }
  }
  return { value: r, carry };
}

/** Shift by a register (bottom byte), A32 register-shifted operands and Thumb-2 shifts. */
export function shiftReg(ctx: DisasContext, v: number, type: number, amountReg: number, wantCarry: boolean): Operand {
  const b = ctx.b;
  const r = b.temp();
  if (wantCarry) {
    // The helper writes C itself (only when the amount is non-zero).
    b.call(ctx.h.shiftC, r, b.c(type), v, amountReg);
    return { value: r, carry: null };
  }
  b.call(ctx.h.shift, r, b.c(type), v, amountReg);
  return { value: r, carry: null };
}

function isLogical(op: number): boolean {
  return op === Alu.AND || op === Alu.EOR || op === Alu.TST || op === Alu.TEQ || op === Alu.ORR ||
    op === Alu.MOV || op === Alu.BIC || op === Alu.MVN || op === Alu.ORN;
}

/** a + b + carryIn with flags; returns the result temp. */
export function addWithFlags(ctx: DisasContext, a: number, bv: number, carryIn: number | null, setFlags: boolean): number {
  const b = ctx.b;
  const r = b.temp();
  if (!setFlags) {
    b.add(r, a, bv);
    if (carryIn !== null) b.add(r, r, carryIn);
    return r;
  }
  const z = b.c(0);
  const cf = b.temp();
  if (carryIn === null) {
    b.add(r, a, bv);
    b.setcond(cf, r, a, Cond.ltu);
  } else {
    b.add2(r, cf, a, z, carryIn, z);
    b.add2(r, cf, r, cf, bv, z);
  }
  // V: operands of equal sign giving a result of the other sign.
  const t = b.temp(), v = b.temp();
  b.xor(v, r, a);
  b.xor(t, a, bv);
  b.andc(v, v, t);
  b.mov(ctx.g(S.VF), v);
  b.mov(ctx.g(S.CF), cf);
  ctx.setNZ(r);
  return r;
}

/** a - b (carryIn null) or a + ~b + carryIn, with flags. */
export function subWithFlags(ctx: DisasContext, a: number, bv: number, carryIn: number | null, setFlags: boolean): number {
  const b = ctx.b;
  if (carryIn !== null) {
    const nb = b.temp();
    b.not(nb, bv);
    return addWithFlags(ctx, a, nb, carryIn, setFlags);
  }
  const r = b.temp();
  b.sub(r, a, bv);
  if (!setFlags) return r;
  const cf = b.temp(), t = b.temp(), v = b.temp();
  b.setcond(cf, a, bv, Cond.geu);
  b.xor(v, r, a);
  b.xor(t, a, bv);
  b.and(v, v, t);
  b.mov(ctx.g(S.VF), v);
  b.mov(ctx.g(S.CF), cf);
  ctx.setNZ(r);
  ctx.noteCompare(a, bv);
  return r;
}

/**
 * One data-processing instruction: computes, sets flags if asked, writes rd
 * (not for TST/TEQ/CMP/CMN). `rn` is a temp (ignored for MOV/MVN).
 */
export function dataProc(ctx: DisasContext, op: number, setFlags: boolean, rd: number, rn: number, op2: Operand): void {
  const b = ctx.b;
  const y = op2.value;
  let r: number;
  switch (op) {
    case Alu.AND: case Alu.TST: r = b.temp(); b.and(r, rn, y); break;
    case Alu.EOR: case Alu.TEQ: r = b.temp(); b.xor(r, rn, y); break;
    case Alu.ORR: r = b.temp(); b.or(r, rn, y); break;
    case Alu.ORN: { r = b.temp(); const t = b.temp(); b.not(t, y); b.or(r, rn, t); break; }
    case Alu.BIC: r = b.temp(); b.andc(r, rn, y); break;
    case Alu.MOV: r = y; break;
    case Alu.MVN: r = b.temp(); b.not(r, y); break;
    case Alu.SUB: case Alu.CMP: r = subWithFlags(ctx, rn, y, null, setFlags); break;
    case Alu.RSB: r = subWithFlags(ctx, y, rn, null, setFlags); break;
    case Alu.ADD: case Alu.CMN: r = addWithFlags(ctx, rn, y, null, setFlags); break;
    case Alu.ADC: r = addWithFlags(ctx, rn, y, ctx.g(S.CF), setFlags); break;
    case Alu.SBC: r = subWithFlags(ctx, rn, y, ctx.g(S.CF), setFlags); break;
    case Alu.RSC: r = subWithFlags(ctx, y, rn, ctx.g(S.CF), setFlags); break;
    default: throw new Error(`bad ALU op ${op}`);
  }
  if (setFlags && isLogical(op)) {
    // Result may alias a global (MOV r0, r1): copy before rd is written.
    ctx.setNZ(r);
    if (op2.carry !== null) b.mov(ctx.g(S.CF), op2.carry);
  }
  if (op >= Alu.TST && op <= Alu.CMN) return;
  ctx.setReg(rd, r);
}

/** The A32 / Thumb-2 modified-immediate carry-out: bit 31 when the constant was rotated. */
export function immOperand(ctx: DisasContext, value: number, rotated: boolean, wantCarry: boolean): Operand {
  return { value: ctx.c(value), carry: wantCarry && rotated ? ctx.c(value >>> 31) : null };
}
