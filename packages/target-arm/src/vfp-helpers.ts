import type { Helper } from '@tsemu/tcg';
import { S, type ArmCpuState } from './cpu-state.js';
import { VfpArith } from './vfp-arith.js';

export { VOp } from './vfp-arith.js';

export interface VfpHelpers {
  vbin: Helper; vun: Helper; vcmp: Helper; vcvt: Helper;
  vgetS: Helper; vsetS: Helper; vgetDlo: Helper; vgetDhi: Helper; vsetD: Helper;
  vldS: Helper; vldD: Helper; vstS: Helper; vstD: Helper;
  getFpscr: Helper; setFpscr: Helper;
}

/**
 * VFP helpers work on the register file by index (the translator knows the
 * indices), so generated code passes small constants. Single-precision
 * results are computed in double and rounded once, which is exact for
 * + - * / and sqrt. NaN results follow ARM: quieted first NaN operand, else
 * the default NaN (positive, unlike x86's).
 */
export function makeVfpHelpers(cpu: ArmCpuState): VfpHelpers {
  const d = cpu.d, s = cpu.s, w = cpu.vi32, r = cpu.regs, mem = cpu.mem;
  const arith = new VfpArith(d, s, w);
  const vbin = (op: number, dst: number, n: number, m: number, dbl: number): void => arith.binary(op, dst, n, m, dbl !== 0);
  const vun = (op: number, dst: number, m: number, dbl: number): void => arith.unary(op, dst, m, dbl !== 0);
  // Compare: sets FPSCR NZCV (unordered = 0011).
  const vcmp = (a: number, m: number, dbl: number, withZero: number): void => {
    const x = dbl ? d[a]! : s[a]!;
    const y = withZero ? 0 : dbl ? d[m]! : s[m]!;
    r[S.FPNZCV] = x !== x || y !== y ? 0x30000000 : x === y ? 0x60000000 : x < y ? (0x80000000 | 0) : 0x20000000;
  };
  const roundMode = (): number => (r[S.FPSCR]! >>> 22) & 3;
  const roundInt = (v: number, mode: number): number => {
    switch (mode) {
      case 0: { const f = Math.floor(v), diff = v - f; return diff > 0.5 || (diff === 0.5 && f % 2 !== 0) ? f + 1 : f; }
      case 1: return Math.ceil(v);
      case 2: return Math.floor(v);
      default: return Math.trunc(v);
    }
  };
  /**
   * Conversions. kind: 0 f32->f64, 1 f64->f32, 2 int->float (signed if `signed`),
   * 3 float->int (round toward zero unless `useMode`).
   */
  const vcvt = (kind: number, dst: number, src: number, flags: number): void => {
    const srcDbl = (flags & 1) !== 0, signed = (flags & 2) !== 0, useMode = (flags & 4) !== 0;
    switch (kind) {
      case 0: { // f32 -> f64: a NaN keeps sign and payload, quieted (read the source before d[dst] overwrites it)
        const x = w[src]!, v = s[src]!;
        if (v === v) d[dst] = v;
        else { w[dst * 2 + 1] = (x & 0x80000000) | 0x7ff80000 | ((x >>> 3) & 0xfffff); w[dst * 2] = x << 29; }
        return;
      }
      case 1: if (d[src] !== d[src]) { w[dst] = (w[src * 2 + 1]! & 0x80000000) | 0x7fc00000 | ((w[src * 2 + 1]! & 0xfffff) << 3) | (w[src * 2]! >>> 29); } else s[dst] = d[src]!; return;
      case 2: { const x = w[src]!; const v = signed ? x : x >>> 0; if (srcDbl) d[dst] = v; else s[dst] = v; return; }
      case 3: {
        const x = srcDbl ? d[src]! : s[src]!;
        let v = x !== x ? 0 : roundInt(x, useMode ? roundMode() : 3);
        if (signed) v = v > 0x7fffffff ? 0x7fffffff : v < -0x80000000 ? -0x80000000 : v;
        else v = v > 0xffffffff ? 0xffffffff : v < 0 ? 0 : v;
        w[dst] = v | 0;
      }
    }
  };
  return {
    vbin: { name: 'vbin', fn: vbin, pure: true },
    vun: { name: 'vun', fn: vun, pure: true },
    vcmp: { name: 'vcmp', fn: vcmp },
    vcvt: { name: 'vcvt', fn: vcvt },
    vgetS: { name: 'vgetS', fn: (i: number) => w[i]!, pure: true },
    vsetS: { name: 'vsetS', fn: (i: number, v: number) => { w[i] = v; }, pure: true },
    vgetDlo: { name: 'vgetDlo', fn: (i: number) => w[i * 2]!, pure: true },
    vgetDhi: { name: 'vgetDhi', fn: (i: number) => w[i * 2 + 1]!, pure: true },
    vsetD: { name: 'vsetD', fn: (i: number, lo: number, hi: number) => { w[i * 2] = lo; w[i * 2 + 1] = hi; }, pure: true },
    vldS: { name: 'vldS', fn: (i: number, a: number) => { w[i] = mem.ld32(a); }, pure: true },
    vldD: { name: 'vldD', fn: (i: number, a: number) => { w[i * 2] = mem.ld32(a); w[i * 2 + 1] = mem.ld32(a + 4); }, pure: true },
    vstS: { name: 'vstS', fn: (i: number, a: number) => { mem.st32(a, w[i]!); }, pure: true },
    vstD: { name: 'vstD', fn: (i: number, a: number) => { mem.st32(a, w[i * 2]!); mem.st32(a + 4, w[i * 2 + 1]!); }, pure: true },
    getFpscr: { name: 'getFpscr', fn: () => cpu.fpscr() },
    setFpscr: { name: 'setFpscr', fn: (v: number) => { cpu.setFpscr(v); } },
  };
}
