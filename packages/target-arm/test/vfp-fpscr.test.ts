import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { S } from '../src/cpu-state.js';
import { F32, F64, FpFlag, SoftFp } from '../src/softfp.js';
import { VfpArith, VOp } from '../src/vfp-arith.js';

// VFP arithmetic with FPSCR: the fast path (JS numbers, round to nearest)
// against the exact BigInt path on the same operands, and known IEEE results
// for the other rounding modes, FZ and DN.
const { IOC, DZC, OFC, UFC, IXC, IDC } = FpFlag;
const RP = 1 << 22, RM = 2 << 22, RZ = 3 << 22, FZ = 1 << 24, DN = 1 << 25;

/** Run `op` on registers 0 (dst / accumulator), 1, 2 through the entry the translator uses for it. */
function exec(arith: VfpArith, op: number, dbl: boolean): void {
  switch (op) {
    case VOp.ADD: case VOp.SUB: arith.add(0, 1, 2, dbl, op === VOp.SUB); return;
    case VOp.MUL: case VOp.NMUL: arith.mul(0, 1, 2, dbl, op === VOp.NMUL); return;
    case VOp.DIV: arith.div(0, 1, 2, dbl); return;
    case VOp.MLA: case VOp.MLS: case VOp.NMLA: case VOp.NMLS: arith.mac(op, 0, 1, 2, dbl); return;
    case VOp.SQRT: arith.unary(op, 0, 1, dbl); return;
    default: arith.binary(op, 0, 1, 2, dbl);
  }
}

function machine() {
  const buf = new ArrayBuffer(256);
  const w = new Int32Array(buf), regs = new Int32Array(40);
  const arith = new VfpArith(new Float64Array(buf), new Float32Array(buf), w, regs);
  return { w, regs, arith };
}

/** Single precision: s1 op s2 -> s0 under `fpscr`; returns [bits, flags]. */
function single(op: number, a: number, b: number, fpscr = 0, acc = 0): [number, number] {
  const { w, regs, arith } = machine();
  w[0] = acc; w[1] = a; w[2] = b;
  regs[S.FPSCR] = fpscr;
  exec(arith, op, false);
  return [w[0]! >>> 0, regs[S.FPSCR]! & 0x9f];
}

function double(op: number, a: bigint, b: bigint, fpscr = 0, acc = 0n): [bigint, number] {
  const { w, regs, arith } = machine();
  const put = (i: number, v: bigint): void => { w[2 * i] = Number(v & 0xffffffffn) | 0; w[2 * i + 1] = Number(v >> 32n) | 0; };
  put(0, acc); put(1, a); put(2, b);
  regs[S.FPSCR] = fpscr;
  exec(arith, op, true);
  return [(BigInt(w[1]! >>> 0) << 32n) | BigInt(w[0]! >>> 0), regs[S.FPSCR]! & 0x9f];
}

/** The exact path for the same primitive operation. */
function exact(op: number, a: bigint, b: bigint, acc: bigint, dbl: boolean): [bigint, number] {
  const sf = new SoftFp().setup(0), f = dbl ? F64 : F32;
  const r = op === VOp.ADD ? sf.add(a, b, f) : op === VOp.SUB ? sf.add(a, b, f, true) : op === VOp.MUL ? sf.mul(a, b, f)
    : op === VOp.NMUL ? sf.neg(sf.mul(a, b, f), f) : op === VOp.DIV ? sf.div(a, b, f) : op === VOp.SQRT ? sf.sqrt(a, f)
    : op === VOp.MLS ? sf.add(acc, sf.neg(sf.mul(a, b, f), f), f) : op === VOp.NMLS ? sf.add(sf.neg(acc, f), sf.mul(a, b, f), f)
    : sf.fma(acc, a, b, f);
  return [r, sf.flags];
}

// Operands that reach the fast path's edges: ties, near-overflow, near-underflow, denormals.
const SINGLES = [0x3f800000, 0x3f800001, 0x33800000, 0x34000000, 0x7f7fffff, 0x00800000, 0x00000001, 0x007fffff, 0x1f800000, 0x5f800000, 0x40400000, 0xbf800000];
const DOUBLES = [0x3ff0000000000000n, 0x3ff0000000000001n, 0x3ca0000000000000n, 0x7fefffffffffffffn, 0x0010000000000000n,
  0x0000000000000001n, 0x000fffffffffffffn, 0x1ff0000000000000n, 0x5ff0000000000000n, 0x4008000000000000n, 0xbff0000000000000n, 0x0370000000000000n];
const OPS = [VOp.ADD, VOp.SUB, VOp.MUL, VOp.NMUL, VOp.DIV, VOp.SQRT, VOp.MLS, VOp.NMLS, VOp.FMA];

describe('VFP fast path agrees with the exact path (round to nearest)', () => {
  it('single precision: results and cumulative flags', () => {
    const word = fc.oneof(fc.constantFrom(...SINGLES), fc.integer({ min: 0, max: 0xffffffff }),
      fc.tuple(fc.constantFrom(...SINGLES), fc.integer({ min: -3, max: 3 })).map(([v, d]) => (v + d) >>> 0));
    fc.assert(fc.property(fc.constantFrom(...OPS), word, word, word, (op, a, b, c) => {
      const [ref, fl] = exact(op, BigInt(a), BigInt(b), BigInt(c), false);
      expect(single(op, a, b, 0, c)).toEqual([Number(ref), fl]);
      // With IXC already set the fast path skips its exactness tests: same result, still UFC / OFC.
      expect(single(op, a, b, IXC, c)).toEqual([Number(ref), fl | IXC]);
    }), { seed: 0x5f1, numRuns: 4000 });
  });

  it('double precision: results and cumulative flags', () => {
    const rnd = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff })).map(([h, l]) => (BigInt(h) << 32n) | BigInt(l));
    const word = fc.oneof(fc.constantFrom(...DOUBLES), rnd,
      fc.tuple(fc.constantFrom(...DOUBLES), fc.integer({ min: -3, max: 3 })).map(([v, d]) => BigInt.asUintN(64, v + BigInt(d))));
    fc.assert(fc.property(fc.constantFrom(...OPS), word, word, word, (op, a, b, c) => {
      const [ref, fl] = exact(op, a, b, c, true);
      expect(double(op, a, b, 0, c)).toEqual([ref, fl]);
      expect(double(op, a, b, IXC, c)).toEqual([ref, fl | IXC]);
    }), { seed: 0xd0b1e, numRuns: 4000 });
  });
});

describe('FPSCR rounding modes, FZ and DN', () => {
  it('1/3 rounds per FPSCR.RMode and raises IXC', () => {
    const one = 0x3f800000, three = 0x40400000;
    expect(single(VOp.DIV, one, three, 0)).toEqual([0x3eaaaaab, IXC]);
    expect(single(VOp.DIV, one, three, RP)).toEqual([0x3eaaaaab, IXC]);
    expect(single(VOp.DIV, one, three, RM)).toEqual([0x3eaaaaaa, IXC]);
    expect(single(VOp.DIV, one, three, RZ)).toEqual([0x3eaaaaaa, IXC]);
    expect(single(VOp.DIV, 0xbf800000, three, RP)).toEqual([0xbeaaaaaa, IXC]);
    expect(double(VOp.DIV, 0x3ff0000000000000n, 0x4008000000000000n, RM)).toEqual([0x3fd5555555555555n, IXC]);
    expect(double(VOp.DIV, 0x3ff0000000000000n, 0x4008000000000000n, RP)).toEqual([0x3fd5555555555556n, IXC]);
  });

  it('1 + 2^-60 is 1 except when rounding up; x - x is -0 when rounding down', () => {
    expect(double(VOp.ADD, 0x3ff0000000000000n, 0x3c30000000000000n, 0)).toEqual([0x3ff0000000000000n, IXC]);
    expect(double(VOp.ADD, 0x3ff0000000000000n, 0x3c30000000000000n, RP)).toEqual([0x3ff0000000000001n, IXC]);
    expect(double(VOp.SUB, 0x3ff0000000000000n, 0x3ff0000000000000n, RM)).toEqual([0x8000000000000000n, 0]);
    expect(single(VOp.SUB, 0x3f800000, 0x3f800000, 0)).toEqual([0, 0]);
  });

  it('overflow gives infinity or the largest finite value by mode', () => {
    expect(single(VOp.MUL, 0x7f7fffff, 0x40000000, 0)).toEqual([0x7f800000, OFC | IXC]);
    expect(single(VOp.MUL, 0x7f7fffff, 0x40000000, RZ)).toEqual([0x7f7fffff, OFC | IXC]);
    expect(single(VOp.MUL, 0xff7fffff, 0x40000000, RP)).toEqual([0xff7fffff, OFC | IXC]);
    expect(single(VOp.MUL, 0xff7fffff, 0x40000000, RM)).toEqual([0xff800000, OFC | IXC]);
  });

  it('underflow is tininess before rounding and inexact; FZ flushes inputs (IDC) and outputs (UFC)', () => {
    // 2^-126 * 0.5 is an exact denormal: no flags. 2^-149 * 0.5 rounds to 0 (ties to even): UFC and IXC.
    expect(single(VOp.MUL, 0x00800000, 0x3f000000, 0)).toEqual([0x00400000, 0]);
    expect(single(VOp.MUL, 0x00000001, 0x3f000000, 0)).toEqual([0, UFC | IXC]);
    expect(single(VOp.MUL, 0x00000001, 0x3f000000, RP)).toEqual([1, UFC | IXC]);
    expect(single(VOp.ADD, 0x00000001, 0x3f800000, FZ)).toEqual([0x3f800000, IDC]);
    expect(single(VOp.MUL, 0x00800000, 0x3f000000, FZ)).toEqual([0, UFC]);
    expect(double(VOp.MUL, 0x0010000000000000n, 0x3fe0000000000000n, FZ)).toEqual([0n, UFC]);
  });

  it('NaNs: signalling quieted with IOC, first operand preferred, DN gives the default NaN', () => {
    expect(single(VOp.ADD, 0x7f800001, 0x3f800000, 0)).toEqual([0x7fc00001, IOC]);
    expect(single(VOp.ADD, 0x7fc00002, 0xff800003, 0)).toEqual([0xffc00003, IOC]);
    expect(single(VOp.ADD, 0x7fc00002, 0xffc00003, 0)).toEqual([0x7fc00002, 0]);
    expect(single(VOp.ADD, 0x7fc00002, 0x3f800000, DN)).toEqual([0x7fc00000, 0]);
    expect(single(VOp.MUL, 0x7f800000, 0, 0)).toEqual([0x7fc00000, IOC]);
    expect(single(VOp.DIV, 0x3f800000, 0x80000000, 0)).toEqual([0xff800000, DZC]);
    expect(single(VOp.SQRT, 0xbf800000, 0, 0)).toEqual([0x7fc00000, IOC]);
    // Fused: inf * 0 + qNaN is invalid (default NaN), unlike the non-fused forms.
    expect(single(VOp.FMA, 0x7f800000, 0, 0, 0x7fc00005)).toEqual([0x7fc00000, IOC]);
  });
});
