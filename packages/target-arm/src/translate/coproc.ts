import { Undefined, type DisasContext } from './context.js';
import { S } from '../cpu-state.js';
import { VOp } from '../vfp-helpers.js';

const bits = (x: number, hi: number, lo: number): number => (x >>> lo) & ((1 << (hi - lo + 1)) - 1);
const bit = (x: number, n: number): boolean => ((x >>> n) & 1) !== 0;

/**
 * Coprocessor space, shared by A32 and Thumb-2 (the encodings agree below the
 * top nibble): VFP on cp10/cp11, and the one CP15 register user code reads,
 * TPIDRURO (the TLS pointer).
 */
export function translateCoproc(ctx: DisasContext, insn: number): void {
  const cp = bits(insn, 11, 8);
  if (bits(insn, 27, 24) === 0xe && bit(insn, 4) && cp === 15) {
    // MRC p15, 0, rt, c13, c0, 3
    if (bit(insn, 20) && bits(insn, 23, 21) === 0 && bits(insn, 19, 16) === 13 && bits(insn, 3, 0) === 0 && bits(insn, 7, 5) === 3) {
      const rt = bits(insn, 15, 12);
      const t = ctx.temp();
      ctx.b.mov(t, ctx.g(S.TLS));
      return ctx.setReg(rt, t);
    }
    throw new Undefined();
  }
  if (cp !== 10 && cp !== 11) throw new Undefined();
  if (bits(insn, 27, 24) === 0xe) return bit(insn, 4) ? vfpTransfer(ctx, insn) : vfpDataProc(ctx, insn);
  if (bits(insn, 27, 21) === 0x62) return vfpTransfer64(ctx, insn);
  if (bits(insn, 27, 25) === 6) return vfpLoadStore(ctx, insn);
  throw new Undefined();
}

/** Register numbers: doubles are D:Vd, singles Vd:D. */
const vd = (insn: number, dbl: boolean): number => dbl ? (bits(insn, 22, 22) << 4) | bits(insn, 15, 12) : (bits(insn, 15, 12) << 1) | bits(insn, 22, 22);
const vn = (insn: number, dbl: boolean): number => dbl ? (bits(insn, 7, 7) << 4) | bits(insn, 19, 16) : (bits(insn, 19, 16) << 1) | bits(insn, 7, 7);
const vm = (insn: number, dbl: boolean): number => dbl ? (bits(insn, 5, 5) << 4) | bits(insn, 3, 0) : (bits(insn, 3, 0) << 1) | bits(insn, 5, 5);

const BIN_OPS: Record<number, [number, number]> = {
  0: [VOp.MLA, VOp.MLS], 1: [VOp.NMLS, VOp.NMLA], 2: [VOp.MUL, VOp.NMUL], 3: [VOp.ADD, VOp.SUB],
  8: [VOp.DIV, -1], 9: [VOp.FNMS, VOp.FNMA], 10: [VOp.FMA, VOp.FMS],
};

function vfpDataProc(ctx: DisasContext, insn: number): void {
  const dbl = bit(insn, 8);
  const opc1 = (bits(insn, 23, 23) << 3) | bits(insn, 21, 20);
  const op = bit(insn, 6) ? 1 : 0;
  const b = ctx.b, h = ctx.h;
  const pair = BIN_OPS[opc1];
  if (pair) {
    const vop = pair[op]!;
    if (vop < 0) throw new Undefined();
    const d = ctx.c(vd(insn, dbl)), n = ctx.c(vn(insn, dbl)), m = ctx.c(vm(insn, dbl)), dz = ctx.c(dbl ? 1 : 0);
    // The common families have their own helpers (a small fast lane each); the fused forms go through vbin.
    if (vop === VOp.ADD || vop === VOp.SUB) b.call(h.vadd, -1, d, n, m, dz, ctx.c(vop === VOp.SUB ? 1 : 0));
    else if (vop === VOp.MUL || vop === VOp.NMUL) b.call(h.vmul, -1, d, n, m, dz, ctx.c(vop === VOp.NMUL ? 1 : 0));
    else if (vop === VOp.DIV) b.call(h.vdiv, -1, d, n, m, dz);
    else if (vop <= VOp.NMLS) b.call(h.vmac, -1, ctx.c(vop), d, n, m, dz);
    else b.call(h.vbin, -1, ctx.c(vop), d, n, m, dz);
    return;
  }
  if (opc1 !== 11) throw new Undefined();
  const opc2 = bits(insn, 19, 16), opc3 = bits(insn, 7, 6);
  const d = ctx.c(vd(insn, dbl)), m = ctx.c(vm(insn, dbl)), dz = ctx.c(dbl ? 1 : 0);
  if ((opc3 & 1) === 0) { // VMOV immediate
    const imm8 = (opc2 << 4) | bits(insn, 3, 0);
    const a = imm8 >>> 7, bb = (imm8 >>> 6) & 1, cdefgh = imm8 & 0x3f;
    if (dbl) {
      const hi = (a << 31) | ((bb ^ 1) << 30) | ((bb ? 0xff : 0) << 22) | (cdefgh << 16);
      b.call(h.vsetD, -1, d, ctx.c(0), ctx.c(hi));
    } else {
      b.call(h.vsetS, -1, d, ctx.c((a << 31) | ((bb ^ 1) << 30) | ((bb ? 0x1f : 0) << 25) | (cdefgh << 19)));
    }
    return;
  }
  switch (opc2) {
    case 0: b.call(h.vun, -1, ctx.c(opc3 === 1 ? VOp.MOV : VOp.ABS), d, m, dz); return;
    case 1: b.call(h.vun, -1, ctx.c(opc3 === 1 ? VOp.NEG : VOp.SQRT), d, m, dz); return;
    // VCMP / VCMPE (bit 7: any NaN raises IOC), with a register or #0.
    case 4: b.call(h.vcmp, -1, d, m, dz, ctx.c(bit(insn, 7) ? 2 : 0)); return;
    case 5: b.call(h.vcmp, -1, d, m, dz, ctx.c(bit(insn, 7) ? 3 : 1)); return;
    case 7: // VCVT between double and single: destination has the other size
      if (opc3 !== 3) break;
      b.call(h.vcvt, -1, ctx.c(dbl ? 1 : 0), ctx.c(vd(insn, !dbl)), m, ctx.c(0));
      return;
    case 8: // int -> float: source is a single register
      b.call(h.vcvt, -1, ctx.c(2), d, ctx.c(vm(insn, false)), ctx.c((dbl ? 1 : 0) | (bit(insn, 7) ? 2 : 0)));
      return;
    case 10: case 11: case 14: case 15: { // fixed point <-> float, in place: opc2 = 1 op 1 U, bit 7 = 32-bit size
      const size = bit(insn, 7) ? 32 : 16, fbits = size - ((bits(insn, 3, 0) << 1) | bits(insn, 5, 5));
      if (fbits < 0) throw new Undefined();
      const fl = (dbl ? 1 : 0) | (opc2 & 1 ? 0 : 2) | (size === 16 ? 8 : 0) | (fbits << 8);
      b.call(h.vcvt, -1, ctx.c(opc2 >= 14 ? 4 : 5), d, d, ctx.c(fl));
      return;
    }
    case 12: case 13: // float -> int: destination is a single register
      b.call(h.vcvt, -1, ctx.c(3), ctx.c(vd(insn, false)), m, ctx.c((dbl ? 1 : 0) | (opc2 === 13 ? 2 : 0) | (bit(insn, 7) ? 0 : 4)));
      return;
  }
  throw new Undefined();
}

function vfpTransfer(ctx: DisasContext, insn: number): void {
  const rt = bits(insn, 15, 12), l = bit(insn, 20), b = ctx.b, h = ctx.h;
  const opc1 = bits(insn, 23, 21);
  if (!bit(insn, 8)) {
    if (opc1 === 0) { // VMOV Rt <-> Sn
      const n = ctx.c(vn(insn, false));
      if (l) { const t = ctx.temp(); b.call(h.vgetS, t, n); return ctx.setReg(rt, t); }
      b.call(h.vsetS, -1, n, ctx.reg(rt));
      return;
    }
    if (opc1 === 7) {
      const reg = bits(insn, 19, 16);
      if (l) {
        if (reg === 1) {
          if (rt === 15) { // VMRS APSR_nzcv, FPSCR
            const x = ctx.g(S.FPNZCV), t = ctx.temp();
            b.andi(t, x, 0x80000000 | 0); b.mov(ctx.g(S.NF), t);
            const z = ctx.temp(); b.andi(z, x, 0x40000000); b.xor(z, z, ctx.c(0x40000000)); b.mov(ctx.g(S.ZF), z);
            const c = ctx.temp(); b.shri(c, x, 29); b.andi(c, c, 1); b.mov(ctx.g(S.CF), c);
            const v = ctx.temp(); b.shli(v, x, 3); b.mov(ctx.g(S.VF), v);
            return;
          }
          const t = ctx.temp(); b.call(h.getFpscr, t); return ctx.setReg(rt, t);
        }
        // FPSID / MVFR1 / MVFR0 / FPEXC: fixed values of a VFPv3-D16 core.
        const fixed: Record<number, number> = { 0: 0x41033094, 6: 0x00000000, 7: 0x10110221, 8: 0x40000000 };
        if (fixed[reg] === undefined) throw new Undefined();
        return ctx.setReg(rt, ctx.c(fixed[reg]));
      }
      if (reg === 1) { b.call(h.setFpscr, -1, ctx.reg(rt)); return; }
      if (reg === 8) return; // FPEXC write: ignored
      throw new Undefined();
    }
    throw new Undefined();
  }
  // VMOV.32 Dd[x] <-> Rt (scalar); only 32-bit lanes.
  if (bits(insn, 6, 5) !== 0 || bit(insn, 22)) throw new Undefined();
  const dn = (bits(insn, 7, 7) << 4) | bits(insn, 19, 16);
  const s = ctx.c(dn * 2 + (bit(insn, 21) ? 1 : 0));
  if (l) { const t = ctx.temp(); b.call(h.vgetS, t, s); return ctx.setReg(rt, t); }
  b.call(h.vsetS, -1, s, ctx.reg(rt));
}

/** VMOV between two core registers and a double or two singles. */
function vfpTransfer64(ctx: DisasContext, insn: number): void {
  const rt = bits(insn, 15, 12), rt2 = bits(insn, 19, 16), b = ctx.b, h = ctx.h;
  const dbl = bit(insn, 8);
  const lo = dbl ? ((bits(insn, 5, 5) << 4) | bits(insn, 3, 0)) * 2 : vm(insn, false);
  if (bit(insn, 20)) {
    const t1 = ctx.temp(), t2 = ctx.temp();
    b.call(h.vgetS, t1, ctx.c(lo));
    b.call(h.vgetS, t2, ctx.c(lo + 1));
    ctx.setReg(rt, t1);
    ctx.setReg(rt2, t2);
    return;
  }
  b.call(h.vsetS, -1, ctx.c(lo), ctx.reg(rt));
  b.call(h.vsetS, -1, ctx.c(lo + 1), ctx.reg(rt2));
}

function vfpLoadStore(ctx: DisasContext, insn: number): void {
  const p = bit(insn, 24), u = bit(insn, 23), w = bit(insn, 21), l = bit(insn, 20);
  const rn = bits(insn, 19, 16), imm8 = insn & 0xff, dbl = bit(insn, 8);
  const b = ctx.b, h = ctx.h;
  const d = vd(insn, dbl);
  const base = rn === 15 ? ctx.c(ctx.pcAligned()) : ctx.reg(rn);
  if (p && !w) { // VLDR / VSTR
    const addr = ctx.addImm(base, u ? imm8 * 4 : -imm8 * 4);
    b.call(dbl ? (l ? h.vldD : h.vstD) : l ? h.vldS : h.vstS, -1, ctx.c(d), addr);
    return;
  }
  if (p === u) throw new Undefined();
  const count = dbl ? imm8 >>> 1 : imm8;
  const size = dbl ? 8 : 4;
  const start = b.temp();
  b.addi(start, base, u ? 0 : -imm8 * 4);
  for (let i = 0; i < count; i++) {
    b.call(dbl ? (l ? h.vldD : h.vstD) : l ? h.vldS : h.vstS, -1, ctx.c(d + i), ctx.addImm(start, i * size));
  }
  if (w) {
    const nb = b.temp();
    b.addi(nb, base, u ? imm8 * 4 : -imm8 * 4);
    ctx.setReg(rn, nb);
  }
}
