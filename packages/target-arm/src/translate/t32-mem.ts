import { MemOp } from '@tsemu/tcg';
import { Undefined, type DisasContext } from './context.js';
import { loadExclusive, loadStore, loadStoreDual, loadStoreMultiple, storeExclusive } from './memops.js';

const bits = (x: number, hi: number, lo: number): number => (x >>> lo) & ((1 << (hi - lo + 1)) - 1);
const bit = (x: number, n: number): boolean => ((x >>> n) & 1) !== 0;

/** LDM / STM / PUSH / POP (32-bit encodings): IA when bits 24..23 = 01, DB when 10. */
export function t32LoadStoreMultiple(ctx: DisasContext, insn: number): void {
  const op = bits(insn, 24, 23), w = bit(insn, 21), l = bit(insn, 20), rn = bits(insn, 19, 16);
  if (op !== 1 && op !== 2) throw new Undefined(); // SRS / RFE are not user-level
  loadStoreMultiple(ctx, l, rn, insn & 0xffff, op === 1, op === 2, w);
}

/** LDRD / STRD, LDREX / STREX (all sizes), TBB / TBH. */
export function t32DualExclusiveTable(ctx: DisasContext, insn: number): void {
  const p = bit(insn, 24), u = bit(insn, 23), w = bit(insn, 21), l = bit(insn, 20);
  const rn = bits(insn, 19, 16), rt = bits(insn, 15, 12), rt2 = bits(insn, 11, 8), imm8 = insn & 0xff;
  const b = ctx.b;
  if (p || w) return loadStoreDual(ctx, l, rt, rt2, rn, ctx.c(u ? imm8 * 4 : -imm8 * 4), p, w);
  if (!u) {
    const addr = ctx.addImm(ctx.reg(rn), imm8 * 4);
    if (l) return loadExclusive(ctx, MemOp.u32, rt, -1, addr);
    return storeExclusive(ctx, MemOp.u32, rt2, rt, -1, addr);
  }
  const op3 = bits(insn, 7, 4), rm = insn & 0xf;
  if (l && (op3 === 0 || op3 === 1)) { // TBB / TBH: branch forward by twice a table entry
    const idx = b.temp();
    if (op3 === 1) b.shli(idx, ctx.reg(rm), 1);
    else b.mov(idx, ctx.reg(rm));
    const addr = b.temp();
    b.add(addr, ctx.reg(rn), idx);
    const off = ctx.ld(op3 === 1 ? MemOp.u16 : MemOp.u8, addr);
    const dest = b.temp();
    b.shli(dest, off, 1);
    b.addi(dest, dest, ctx.pc + 4);
    return ctx.branchReg(dest);
  }
  const mo = op3 === 4 ? MemOp.u8 : op3 === 5 ? MemOp.u16 : op3 === 7 ? MemOp.u32 : -1;
  if (mo < 0) throw new Undefined();
  const addr = ctx.reg(rn);
  if (l) return loadExclusive(ctx, mo, rt, op3 === 7 ? rt2 : -1, addr);
  return storeExclusive(ctx, mo, rm, rt, op3 === 7 ? rt2 : -1, addr);
}

const SIZE_MO = [MemOp.u8, MemOp.u16, MemOp.u32];
const SIGNED_MO = [MemOp.s8, MemOp.s16];

/** LDR{B,H,SB,SH} / STR{B,H}: imm12, imm8 with P/U/W, register with LSL #0-3, literal. */
export function t32LoadStoreSingle(ctx: DisasContext, insn: number): void {
  const signed = bit(insn, 24), imm12Form = bit(insn, 23), size = bits(insn, 22, 21), load = bit(insn, 20);
  const rn = bits(insn, 19, 16), rt = bits(insn, 15, 12);
  if (size === 3) throw new Undefined();
  if (!load && signed) throw new Undefined();
  const mo = signed ? SIGNED_MO[size] : SIZE_MO[size];
  if (mo === undefined) throw new Undefined();
  const b = ctx.b;
  // Preload hints (loads of bytes or halfwords into PC) do nothing here.
  if (load && rt === 15 && size < 2) return;
  if (rn === 15) { // literal
    const off = insn & 0xfff;
    return loadStore(ctx, load, mo, rt, 15, ctx.c(imm12Form ? off : -off), true, false);
  }
  if (imm12Form) return loadStore(ctx, load, mo, rt, rn, ctx.c(insn & 0xfff), true, false);
  if (bit(insn, 11)) {
    const p = bit(insn, 10), u = bit(insn, 9), w = bit(insn, 8), imm8 = insn & 0xff;
    return loadStore(ctx, load, mo, rt, rn, ctx.c(u ? imm8 : -imm8), p, w || !p);
  }
  if (bits(insn, 11, 6) !== 0) throw new Undefined();
  let off = ctx.reg(insn & 0xf);
  const sh = bits(insn, 5, 4);
  if (sh) { const t = b.temp(); b.shli(t, off, sh); off = t; }
  loadStore(ctx, load, mo, rt, rn, off, true, false);
}
