import { MemOp } from '@tsemu/tcg';
import { S, Excp } from '../cpu-state.js';
import { Alu, dataProc, shiftImm, shiftReg, Shift, type Operand } from './alu.js';
import { Undefined, type DisasContext } from './context.js';
import { loadStore, loadStoreMultiple } from './memops.js';
import * as X from './media.js';

const bits = (x: number, hi: number, lo: number): number => (x >>> lo) & ((1 << (hi - lo + 1)) - 1);
const bit = (x: number, n: number): boolean => ((x >>> n) & 1) !== 0;

const reg = (ctx: DisasContext, r: number): Operand => ({ value: ctx.reg(r), carry: null });

/** Translate one 16-bit Thumb instruction. Flag-setting forms set flags only outside IT blocks. */
export function translateT16(ctx: DisasContext, insn: number): void {
  const setFlags = ctx.itState === 0;
  const b = ctx.b;
  const lo3 = insn & 7, mid3 = bits(insn, 5, 3), r8 = bits(insn, 10, 8);
  switch (insn >>> 11) {
    case 0: case 1: case 2: // LSL/LSR/ASR immediate (LSL #0 is MOVS)
      return dataProc(ctx, Alu.MOV, setFlags, lo3, 0, shiftImm(ctx, ctx.reg(mid3), insn >>> 11, bits(insn, 10, 6), setFlags));
    case 3: {
      const op = bits(insn, 10, 9), m = bits(insn, 8, 6);
      const op2: Operand = op & 2 ? { value: ctx.c(m), carry: null } : reg(ctx, m);
      return dataProc(ctx, op & 1 ? Alu.SUB : Alu.ADD, setFlags, lo3, ctx.reg(mid3), op2);
    }
    case 4: return dataProc(ctx, Alu.MOV, setFlags, r8, 0, { value: ctx.c(insn & 0xff), carry: null });
    case 5: return dataProc(ctx, Alu.CMP, true, 0, ctx.reg(r8), { value: ctx.c(insn & 0xff), carry: null });
    case 6: return dataProc(ctx, Alu.ADD, setFlags, r8, ctx.reg(r8), { value: ctx.c(insn & 0xff), carry: null });
    case 7: return dataProc(ctx, Alu.SUB, setFlags, r8, ctx.reg(r8), { value: ctx.c(insn & 0xff), carry: null });
    case 8:
      if (!bit(insn, 10)) return dataProcessing(ctx, insn, setFlags);
      return specialData(ctx, insn);
    case 9: { // LDR literal
      const t = ctx.ld(MemOp.u32, ctx.c(ctx.pcAligned() + (insn & 0xff) * 4));
      return ctx.setReg(r8, t);
    }
    case 10: case 11: { // load/store register offset
      const op = bits(insn, 11, 9);
      const mo = [MemOp.u32, MemOp.u16, MemOp.u8, MemOp.s8, MemOp.u32, MemOp.u16, MemOp.u8, MemOp.s16][op]!;
      return loadStore(ctx, op >= 3, mo, lo3, mid3, ctx.reg(bits(insn, 8, 6)), true, false);
    }
    case 12: case 13: case 14: case 15: { // STR/LDR/STRB/LDRB immediate
      const byte = bit(insn, 12), imm5 = bits(insn, 10, 6);
      return loadStore(ctx, bit(insn, 11), byte ? MemOp.u8 : MemOp.u32, lo3, mid3, ctx.c(byte ? imm5 : imm5 * 4), true, false);
    }
    case 16: case 17:
      return loadStore(ctx, bit(insn, 11), MemOp.u16, lo3, mid3, ctx.c(bits(insn, 10, 6) * 2), true, false);
    case 18: case 19:
      return loadStore(ctx, bit(insn, 11), MemOp.u32, r8, 13, ctx.c((insn & 0xff) * 4), true, false);
    case 20: return ctx.setReg(r8, ctx.c(ctx.pcAligned() + (insn & 0xff) * 4)); // ADR
    case 21: { const t = b.temp(); b.addi(t, ctx.reg(13), (insn & 0xff) * 4); return ctx.setReg(r8, t); }
    case 22: case 23: return misc(ctx, insn);
    case 24: return loadStoreMultiple(ctx, false, r8, insn & 0xff, true, false, true);
    case 25: return loadStoreMultiple(ctx, true, r8, insn & 0xff, true, false, !(insn & (1 << r8)));
    case 26: case 27: {
      const cond = bits(insn, 11, 8);
      if (cond === 14) return ctx.undefinedInsn(insn);
      if (cond === 15) return ctx.raise(Excp.SWI, ctx.pc + 2, insn & 0xff);
      ctx.beginCond(cond);
      return ctx.gotoPc(ctx.pc + 4 + (((insn & 0xff) << 24) >> 23), 1, true);
    }
    case 28: return ctx.gotoPc(ctx.pc + 4 + (((insn & 0x7ff) << 21) >> 20), 1, true);
  }
  throw new Undefined();
}

const DP_OPS = [Alu.AND, Alu.EOR, -1, -1, -1, Alu.ADC, Alu.SBC, -1, Alu.TST, Alu.RSB, Alu.CMP, Alu.CMN, Alu.ORR, -2, Alu.BIC, Alu.MVN];

function dataProcessing(ctx: DisasContext, insn: number, setFlags: boolean): void {
  const op = bits(insn, 9, 6), rm = bits(insn, 5, 3), rdn = insn & 7;
  const alu = DP_OPS[op]!;
  if (alu === -1 && op !== 9) { // register shifts: LSL LSR ASR ROR
    const type = op === 2 ? Shift.LSL : op === 3 ? Shift.LSR : op === 4 ? Shift.ASR : Shift.ROR;
    return dataProc(ctx, Alu.MOV, setFlags, rdn, 0, shiftReg(ctx, ctx.reg(rdn), type, ctx.reg(rm), setFlags));
  }
  if (op === 9) return dataProc(ctx, Alu.RSB, setFlags, rdn, ctx.reg(rm), { value: ctx.c(0), carry: null }); // NEG
  if (alu === -2) { // MUL
    const t = ctx.temp();
    ctx.b.mul(t, ctx.reg(rm), ctx.reg(rdn));
    if (setFlags) ctx.setNZ(t);
    return ctx.setReg(rdn, t);
  }
  const flags = setFlags || alu === Alu.TST || alu === Alu.CMP || alu === Alu.CMN;
  dataProc(ctx, alu, flags, rdn, ctx.reg(rdn), reg(ctx, rm));
}

function specialData(ctx: DisasContext, insn: number): void {
  const rm = bits(insn, 6, 3), rdn = (bits(insn, 7, 7) << 3) | (insn & 7);
  switch (bits(insn, 9, 8)) {
    case 0: { // ADD (high registers), no flags
      const t = ctx.temp();
      ctx.b.add(t, ctx.reg(rdn), ctx.reg(rm));
      return ctx.setReg(rdn, t);
    }
    case 1: return dataProc(ctx, Alu.CMP, true, 0, ctx.reg(rdn), reg(ctx, rm));
    case 2: return ctx.setReg(rdn, ctx.reg(rm));
    default: {
      if (bit(insn, 7)) { // BLX register
        const target = ctx.temp();
        ctx.b.mov(target, ctx.reg(rm));
        ctx.b.movi(ctx.g(S.LR), (ctx.pc + 2) | 1);
        return ctx.bxReg(target, false, (ctx.pc + 2) | 1);
      }
      return ctx.bxReg(ctx.reg(rm));
    }
  }
}

function misc(ctx: DisasContext, insn: number): void {
  const b = ctx.b;
  const op = bits(insn, 11, 5);
  if ((op & 0x78) === 0) { // ADD/SUB SP, SP, #imm7*4
    const t = b.temp();
    b.addi(t, ctx.reg(13), bit(insn, 7) ? -(insn & 0x7f) * 4 : (insn & 0x7f) * 4);
    return ctx.setReg(13, t);
  }
  if ((bits(insn, 11, 8) & 5) === 1) { // CBZ / CBNZ
    const off = (bits(insn, 9, 9) << 6) | (bits(insn, 7, 3) << 1);
    // The register test skips to the instruction's condition label (placed
    // by translateArm; inside an IT block, UNPREDICTABLE, it already exists and
    // both tests skip there), so gotoPc sees a conditional branch and never
    // follows it as if it were always taken (TSEMU_ARM_TRACES, or code reached
    // through an interworking follow, where the branch cannot stay internal).
    if (ctx.condLabel < 0) ctx.condLabel = b.label();
    b.brcond(ctx.reg(insn & 7), ctx.c(0), bit(insn, 11) ? 0 : 1, ctx.condLabel);
    return ctx.gotoPc(ctx.pc + 4 + off, 1, true);
  }
  if ((op & 0x78) === 0x10) { // SXTH SXTB UXTH UXTB
    const kind = [X.Ext.SXTH, X.Ext.SXTB, X.Ext.UXTH, X.Ext.UXTB][bits(insn, 7, 6)]!;
    return X.extend(ctx, kind, insn & 7, 15, bits(insn, 5, 3), 0);
  }
  if ((op & 0x70) === 0x20) { // PUSH
    const list = (insn & 0xff) | (bit(insn, 8) ? 0x4000 : 0);
    return loadStoreMultiple(ctx, false, 13, list, false, true, true);
  }
  if ((op & 0x70) === 0x60) { // POP
    const list = (insn & 0xff) | (bit(insn, 8) ? 0x8000 : 0);
    return loadStoreMultiple(ctx, true, 13, list, true, false, true);
  }
  if ((op & 0x78) === 0x50) { // REV REV16 - REVSH
    const k = bits(insn, 7, 6);
    if (k === 2) throw new Undefined();
    return X.rev(ctx, k === 0 ? 'rev' : k === 1 ? 'rev16' : 'revsh', insn & 7, bits(insn, 5, 3));
  }
  if ((op & 0x78) === 0x70) return ctx.raise(Excp.BKPT, ctx.pc, insn);
  if ((op & 0x78) === 0x78) { // IT and hints
    if ((insn & 0xf) === 0) return; // NOP YIELD WFE WFI SEV
    if (bits(insn, 7, 4) === 15) throw new Undefined();
    ctx.startIt(insn & 0xff);
    return;
  }
  throw new Undefined();
}
