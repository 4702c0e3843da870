import type { Helper } from '@tsemu/tcg';
import { S, type ArmCpuState } from './cpu-state.js';
import { VfpArith } from './vfp-arith.js';
import { VfpConvert } from './vfp-convert.js';

export { VOp } from './vfp-arith.js';

export interface VfpHelpers {
  vbin: Helper; vadd: Helper; vmul: Helper; vdiv: Helper; vmac: Helper; vun: Helper; vcmp: Helper; vcvt: Helper;
  vgetS: Helper; vsetS: Helper; vgetDlo: Helper; vgetDhi: Helper; vsetD: Helper;
  vldS: Helper; vldD: Helper; vstS: Helper; vstD: Helper;
  getFpscr: Helper; setFpscr: Helper;
}

/**
 * VFP helpers work on the register file by index (the translator knows the
 * indices), so generated code passes small constants. The arithmetic, its
 * FPSCR flags, rounding modes, FZ and DN live in VfpArith / SoftFp.
 */
export function makeVfpHelpers(cpu: ArmCpuState): VfpHelpers {
  const w = cpu.vi32, mem = cpu.mem, m32 = mem.i32, nr = mem.noRead, nw = mem.noWrite;
  const arith = new VfpArith(cpu.d, cpu.s, w, cpu.regs), conv = new VfpConvert(cpu.d, cpu.s, w, cpu.regs);
  const vbin = (op: number, dst: number, n: number, m: number, dbl: number): void => arith.binary(op, dst, n, m, dbl !== 0);
  // One helper per common instruction family keeps each entry small enough for V8 to inline.
  const vadd = (dst: number, n: number, m: number, dbl: number, sub: number): void => arith.add(dst, n, m, dbl !== 0, sub !== 0);
  const vmul = (dst: number, n: number, m: number, dbl: number, neg: number): void => arith.mul(dst, n, m, dbl !== 0, neg !== 0);
  const vdiv = (dst: number, n: number, m: number, dbl: number): void => arith.div(dst, n, m, dbl !== 0);
  const vmac = (op: number, dst: number, n: number, m: number, dbl: number): void => arith.mac(op, dst, n, m, dbl !== 0);
  const vun = (op: number, dst: number, m: number, dbl: number): void => arith.unary(op, dst, m, dbl !== 0);
  // Compare: sets FPSCR NZCV (unordered = 0011); flags bit 0 = compare with zero, bit 1 = VCMPE.
  const vcmp = (a: number, m: number, dbl: number, flags: number): void => conv.compare(a, m, dbl !== 0, (flags & 1) !== 0, (flags & 2) !== 0);
  /**
   * Conversions. kind: 0 f32->f64, 1 f64->f32, 2 int->float (signed if `signed`),
   * 3 float->int (round toward zero unless `useMode`), 4 to fixed, 5 from fixed
   * (in place; flags bit 3 = 16-bit fixed size, bits 8.. = fraction bits).
   */
  const vcvt = (kind: number, dst: number, src: number, flags: number): void => {
    const srcDbl = (flags & 1) !== 0, signed = (flags & 2) !== 0, useMode = (flags & 4) !== 0;
    switch (kind) {
      case 0: conv.convertFloat(dst, src, false); return;
      case 1: conv.convertFloat(dst, src, true); return;
      case 2: conv.fromInt(dst, src, srcDbl, signed); return;
      case 3: conv.toInt(dst, src, srcDbl, signed, useMode); return;
      default: conv.fixed(dst, srcDbl, kind === 4, signed, flags & 8 ? 16 : 32, flags >>> 8);
    }
  };
  return {
    vbin: { name: 'vbin', fn: vbin, pure: true },
    vadd: { name: 'vadd', fn: vadd, pure: true },
    vmul: { name: 'vmul', fn: vmul, pure: true },
    vdiv: { name: 'vdiv', fn: vdiv, pure: true },
    vmac: { name: 'vmac', fn: vmac, pure: true },
    vun: { name: 'vun', fn: vun, pure: true },
    vcmp: { name: 'vcmp', fn: vcmp },
    vcvt: { name: 'vcvt', fn: vcvt },
    vgetS: { name: 'vgetS', fn: (i: number) => w[i]!, pure: true },
    vsetS: { name: 'vsetS', fn: (i: number, v: number) => { w[i] = v; }, pure: true },
    vgetDlo: { name: 'vgetDlo', fn: (i: number) => w[i * 2]!, pure: true },
    vgetDhi: { name: 'vgetDhi', fn: (i: number) => w[i * 2 + 1]!, pure: true },
    vsetD: { name: 'vsetD', fn: (i: number, lo: number, hi: number) => { w[i * 2] = lo; w[i * 2 + 1] = hi; }, pure: true },
    // Checked guest accesses (mayFault): SIGSEGV on a bad page, SIGBUS when not word aligned (as under qemu-arm).
    // The fast path is the generated code's own test (aligned, page readable /
    // writable without translated code: noRead / noWrite 0) and a typed-array
    // access; anything else takes GuestMemory's checked slow path, which also
    // records faults and invalidates code it writes.
    vldS: {
      name: 'vldS', fn: (i: number, a: number) => {
        if (((a & 3) | nr[a >>> 12]!) === 0) w[i] = m32[a >>> 2]!;
        else if (a & 3) mem.alignFault(a); else w[i] = mem.ld32(a);
      }, pure: true, mayFault: true,
    },
    vldD: {
      name: 'vldD', fn: (i: number, a: number) => {
        if (((a & 3) | nr[a >>> 12]! | nr[(a + 4) >>> 12]!) === 0) { w[i * 2] = m32[a >>> 2]!; w[i * 2 + 1] = m32[(a + 4) >>> 2]!; }
        else if (a & 3) mem.alignFault(a); else { w[i * 2] = mem.ld32(a); w[i * 2 + 1] = mem.ld32(a + 4); }
      }, pure: true, mayFault: true,
    },
    vstS: {
      name: 'vstS', fn: (i: number, a: number) => {
        if (((a & 3) | nw[a >>> 12]!) === 0) m32[a >>> 2] = w[i]!;
        else if (a & 3) mem.alignFault(a); else mem.st32(a, w[i]!);
      }, pure: true, mayFault: true,
    },
    vstD: {
      name: 'vstD', fn: (i: number, a: number) => {
        if (((a & 3) | nw[a >>> 12]! | nw[(a + 4) >>> 12]!) === 0) { m32[a >>> 2] = w[i * 2]!; m32[(a + 4) >>> 2] = w[i * 2 + 1]!; }
        else if (a & 3) mem.alignFault(a); else { mem.st32(a, w[i * 2]!); mem.st32(a + 4, w[i * 2 + 1]!); }
      }, pure: true, mayFault: true,
    },
    getFpscr: { name: 'getFpscr', fn: () => cpu.fpscr() },
    setFpscr: { name: 'setFpscr', fn: (v: number) => { cpu.setFpscr(v); } },
  };
}
