import { Cond, MemOp } from '@tsemu/tcg';
import { S } from '../cpu-state.js';
import type { DisasContext } from './context.js';

/**
 * A single load or store with the ARM addressing forms: offset, pre-indexed
 * with writeback, post-indexed. `off` is a temp (already negated if needed).
 */
export function loadStore(
  ctx: DisasContext, load: boolean, memop: number, rt: number, rn: number, off: number,
  preIndex: boolean, writeBack: boolean,
): void {
  const b = ctx.b;
  const base = rn === 15 ? ctx.c(ctx.pcAligned()) : ctx.reg(rn);
  let addr: number;
  if (b.isConst(off) && b.constValue(off) === 0) addr = base;
  else { addr = b.temp(); b.add(addr, base, off); }
  const ea = preIndex ? addr : base;
  if (load) {
    const v = ctx.ld(memop, ea);
    if (!preIndex || writeBack) if (rn !== rt) ctx.setReg(rn, addr);
    ctx.setReg(rt, v, true, rn === 13);
  } else {
    const v = ctx.reg(rt);
    let val = v;
    if (!b.isConst(v)) { val = b.temp(); b.mov(val, v); }
    ctx.st(val, ea, memop);
    if (!preIndex || writeBack) ctx.setReg(rn, addr);
  }
}

/** LDRD / STRD: two words at ea and ea+4 (word aligned, else SIGBUS as under qemu-arm). */
export function loadStoreDual(
  ctx: DisasContext, load: boolean, rt: number, rt2: number, rn: number, off: number, preIndex: boolean, writeBack: boolean,
): void {
  const b = ctx.b;
  const base = rn === 15 ? ctx.c(ctx.pcAligned()) : ctx.reg(rn);
  const addr = b.temp();
  b.add(addr, base, off);
  const ea = preIndex ? addr : base;
  const ea2 = ctx.addImm(ea, 4);
  if (load) {
    const v1 = ctx.ld(MemOp.u32 | MemOp.align, ea), v2 = ctx.ld(MemOp.u32 | MemOp.align, ea2);
    if (!preIndex || writeBack) ctx.setReg(rn, addr);
    ctx.setReg(rt, v1);
    ctx.setReg(rt2, v2);
  } else {
    ctx.st(ctx.reg(rt), ea, MemOp.u32 | MemOp.align);
    ctx.st(ctx.reg(rt2), ea2, MemOp.u32 | MemOp.align);
    if (!preIndex || writeBack) ctx.setReg(rn, addr);
  }
}

/**
 * LDM / STM (and PUSH / POP). `increment` and `before` select IA/IB/DA/DB.
 * Loads go to temps first so a loaded base register wins over writeback.
 */
export function loadStoreMultiple(
  ctx: DisasContext, load: boolean, rn: number, list: number, increment: boolean, before: boolean, writeBack: boolean,
): void {
  const b = ctx.b;
  const n = popcount(list);
  const base = ctx.reg(rn);
  const start = b.temp();
  const lowest = increment ? (before ? 4 : 0) : before ? -4 * n : -4 * n + 4;
  b.addi(start, base, lowest);
  const newBase = b.temp();
  b.addi(newBase, base, increment ? 4 * n : -4 * n);
  let off = 0;
  if (load) {
    const vals: [number, number][] = [];
    for (let i = 0; i < 16; i++) {
      if (!(list & (1 << i))) continue;
      vals.push([i, ctx.ld(MemOp.u32 | MemOp.align, ctx.addImm(start, off))]);
      off += 4;
    }
    if (writeBack && !(list & (1 << rn))) ctx.setReg(rn, newBase);
    let pcVal = -1;
    for (const [i, v] of vals) {
      if (i === 15) pcVal = v;
      else ctx.setReg(i, v);
    }
    if (pcVal >= 0) ctx.setReg(15, pcVal, true, rn === 13);
  } else {
    for (let i = 0; i < 16; i++) {
      if (!(list & (1 << i))) continue;
      ctx.st(ctx.reg(i), ctx.addImm(start, off), MemOp.u32 | MemOp.align);
      off += 4;
    }
    if (writeBack) ctx.setReg(rn, newBase);
  }
}

export function popcount(x: number): number {
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}

/** LDREX{B,H,D}: load and open the exclusive monitor on the address. */
export function loadExclusive(ctx: DisasContext, memop: number, rt: number, rt2: number, addr: number): void {
  const b = ctx.b;
  // Exclusives must be aligned (LDREXD to 8): SIGBUS otherwise, as under qemu-arm.
  const v = ctx.ld(memop | (rt2 >= 0 ? MemOp.align8 : MemOp.align), addr);
  b.mov(ctx.g(S.EXCL_ADDR), addr);
  b.mov(ctx.g(S.EXCL_VAL), v);
  if (rt2 >= 0) {
    const v2 = ctx.ld(MemOp.u32, ctx.addImm(addr, 4));
    ctx.setReg(rt2, v2);
  }
  ctx.setReg(rt, v);
}

/**
 * STREX{B,H,D}: store if the monitor is open for this address (one guest
 * thread, so nothing else can have broken it), rd = 0 on success, 1 otherwise.
 */
export function storeExclusive(ctx: DisasContext, memop: number, rd: number, rt: number, rt2: number, addr: number): void {
  const b = ctx.b;
  const res = b.temp();
  const fail = b.label();
  b.movi(res, 1);
  b.brcond(ctx.g(S.EXCL_ADDR), addr, Cond.ne, fail);
  const a = b.temp();
  b.mov(a, addr);
  ctx.st(ctx.reg(rt), a, memop | MemOp.align);
  if (rt2 >= 0) ctx.st(ctx.reg(rt2), ctx.addImm(a, 4), MemOp.u32);
  b.movi(res, 0);
  b.setLabel(fail);
  b.movi(ctx.g(S.EXCL_ADDR), -1);
  ctx.setReg(rd, res);
}
