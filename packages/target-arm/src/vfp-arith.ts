import { S } from './cpu-state.js';
import { F32, F64, FpFlag, type Fmt } from './softfp.js';
import { VfpRegs } from './vfp-regs.js';

/**
 * VFP arithmetic with ARM's FPSCR semantics, on register indices. Two paths:
 *
 * - fast: FPSCR in round-to-nearest without flush-to-zero and every operand
 *   finite. The result is a JS double (rounded once more with Math.fround for
 *   single precision, which is exact for + - * / sqrt since 53 >= 2*24+2), and
 *   the flags come from cheap exactness tests: two-sum / Dekker two-product
 *   error terms for doubles, re-multiplication in double for singles.
 * - slow: everything else (other rounding modes, FZ, NaN or infinite operands,
 *   results near the underflow threshold, double fused multiply-add) goes
 *   through SoftFp, exact BigInt arithmetic following the ARM pseudocode.
 *
 * The fast path bails out (sets `bail`) before it has written anything, so a
 * compound operation (VMLA = add(acc, mul)) is redone whole on the slow path.
 */
export const VOp = {
  ADD: 0, SUB: 1, MUL: 2, DIV: 3, NMUL: 4, MLA: 5, MLS: 6, NMLA: 7, NMLS: 8, FMA: 9, FMS: 10, FNMA: 11, FNMS: 12,
  ABS: 16, NEG: 17, SQRT: 18, MOV: 19,
} as const;

/** FPSCR bits that force the slow path: RMode (23:22) and FZ (24). */
const SLOW_CTL = 0x01c00000;
const { DZC, OFC, UFC, IXC } = FpFlag;
const MIN_NORMAL_F32 = 2 ** -126, MAX_F32 = 3.4028234663852886e38;
/** Bounds inside which Dekker's two-product error term is exact (no overflow when splitting, no underflow). */
const TWO_PROD_MAX = 2 ** 995, TWO_PROD_MIN = 2 ** -960;
const SPLIT = 134217729; // 2^27 + 1

/** Exact error of the double product p = fl(a * b): a * b = p + err (Dekker / Veltkamp). */
function twoProdErr(a: number, b: number, p: number): number {
  let t = SPLIT * a;
  const ah = t - (t - a), al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b), bl = b - bh;
  return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}

export class VfpArith extends VfpRegs {
  /** Flags raised by the fast path so far in this operation. */
  private fl = 0;
  /** The fast path cannot decide this operation: redo it on the slow path. */
  private bail = false;
  /**
   * IXC is still clear, so exactness must be tested. IXC is sticky and set
   * by nearly the first operation of any real program, after which the
   * exactness tests are skipped (only overflow and underflow still matter).
   */
  private needIx = true;

  // ---- fast path primitives (round to nearest, finite operands) ----

  // Each primitive computes first and tests operands only when the result is
  // not finite: a finite result implies finite operands, except x / inf = 0.

  /** A non-finite result from finite operands is an overflow; otherwise the slow path decides. */
  private notFinite(r: number, x: number, y: number): number {
    if (r === r && x - x === 0 && y - y === 0) this.fl |= OFC | IXC;
    else if (r !== r || x !== x || y !== y) this.bail = true;
    return r; // inf from an infinite operand: exact, no flags
  }

  private fadd(x: number, y: number, dbl: boolean): number {
    const sum = x + y;
    const r = dbl ? sum : Math.fround(sum);
    if (r - r !== 0) return this.notFinite(r, x, y);
    if (!this.needIx) return r;
    // Two-sum: the exact error of the double addition (sums never underflow inexactly).
    const bb = sum - x;
    if (r !== sum || (x - (sum - bb)) + (y - bb) !== 0) this.fl |= IXC;
    return r;
  }

  private fmul(x: number, y: number, dbl: boolean): number {
    const p = x * y;
    if (p - p !== 0) return this.notFinite(dbl ? p : Math.fround(p), x, y);
    if (!dbl) { // the double product of two singles is exact
      const r = Math.fround(p);
      if (r !== p) {
        if (r - r !== 0) this.fl |= OFC | IXC;
        else this.fl |= Math.abs(p) < MIN_NORMAL_F32 ? UFC | IXC : IXC;
      }
      return r;
    }
    const ap = Math.abs(p);
    if (ap < TWO_PROD_MIN) {
      if (x === 0 || y === 0) return p;
      this.bail = true;
      return 0;
    }
    if (!this.needIx) return p;
    if (Math.abs(x) > TWO_PROD_MAX || Math.abs(y) > TWO_PROD_MAX) { this.bail = true; return 0; }
    if (twoProdErr(x, y, p) !== 0) this.fl |= IXC;
    return p;
  }

  private fdiv(x: number, y: number, dbl: boolean): number {
    const q = x / y;
    if (q - q !== 0) {
      if (y === 0 && x - x === 0 && q === q) { this.fl |= DZC; return q; }
      return this.notFinite(dbl ? q : Math.fround(q), x, y);
    }
    if (q === 0) { // 0 / y and x / inf are exact; anything else underflowed
      if (x === 0 || y - y !== 0) return q;
      this.bail = true;
      return 0;
    }
    if (!dbl) {
      const r = Math.fround(q);
      if (r - r !== 0) { this.fl |= OFC | IXC; return r; }
      if (!this.needIx && Math.abs(r) > MIN_NORMAL_F32) return r;
      if (r * y !== x) { // r * y is exact in double
        if (Math.abs(r) <= MIN_NORMAL_F32) { this.bail = true; return 0; }
        this.fl |= IXC;
      }
      return r;
    }
    const aq = Math.abs(q);
    if (!this.needIx && aq >= TWO_PROD_MIN) return q;
    const ax = Math.abs(x); // p = q * y is about x: its error term must not underflow or overflow
    if (aq < TWO_PROD_MIN || aq > TWO_PROD_MAX || Math.abs(y) > TWO_PROD_MAX || ax < TWO_PROD_MIN || ax > 2 ** 1020) { this.bail = true; return 0; }
    // q * y = p + e exactly; x - p is exact (Sterbenz), so the quotient is exact iff x - p == e.
    const p = q * y;
    if (x - p !== twoProdErr(q, y, p)) this.fl |= IXC;
    return q;
  }

  private fsqrt(x: number, dbl: boolean): number {
    if (x - x !== 0 || x < 0) { this.bail = true; return 0; }
    if (x === 0) return x;
    if (!this.needIx) return dbl ? Math.sqrt(x) : Math.fround(Math.sqrt(x));
    if (!dbl) {
      const r = Math.fround(Math.sqrt(x));
      if (r * r !== x) this.fl |= IXC;
      return r;
    }
    if (x < 2 ** -900 || x > 2 ** 1000) { this.bail = true; return 0; }
    const q = Math.sqrt(x), p = q * q;
    if (x - p !== twoProdErr(q, q, p)) this.fl |= IXC;
    return q;
  }

  /** Fused acc + x*y in single precision (the product is exact in double; bail when the sum is not). */
  private ffma(acc: number, x: number, y: number, dbl: boolean): number {
    if (dbl || acc - acc !== 0 || x - x !== 0 || y - y !== 0) { this.bail = true; return 0; }
    const p = x * y, sum = acc + p, bb = sum - acc;
    if ((acc - (sum - bb)) + (p - bb) !== 0) { this.bail = true; return 0; }
    const r = Math.fround(sum);
    if (r - r !== 0) { this.fl |= OFC | IXC; return r; }
    if (r !== sum) {
      if (Math.abs(r) <= MIN_NORMAL_F32) { this.bail = true; return 0; }
      this.fl |= IXC;
    }
    return r;
  }

  // ---- operations called from generated code ----

  // The common lane: round to nearest, no FZ, IXC already set ----
  // IXC is sticky and set early by any real program; then a result that is
  // finite and clear of the underflow range raises nothing new, so these small
  // methods (inlinable, one per instruction family) store it directly and
  // hand everything else to binary().

  /** VADD / VSUB (`sub`). */
  add(dst: number, n: number, m: number, dbl: boolean, sub: boolean): void {
    if ((this.regs[S.FPSCR]! & (SLOW_CTL | IXC)) === IXC) {
      if (dbl) {
        const r = sub ? this.d[n]! - this.d[m]! : this.d[n]! + this.d[m]!;
        if (r - r === 0) { this.d[dst] = r; return; }
      } else {
        const r = Math.fround(sub ? this.s[n]! - this.s[m]! : this.s[n]! + this.s[m]!);
        if (r - r === 0) { this.s[dst] = r; return; }
      }
    }
    this.binary(sub ? VOp.SUB : VOp.ADD, dst, n, m, dbl);
  }

  /** VMUL / VNMUL (`neg`). */
  mul(dst: number, n: number, m: number, dbl: boolean, neg: boolean): void {
    if ((this.regs[S.FPSCR]! & (SLOW_CTL | IXC)) === IXC) {
      if (dbl) {
        const p = this.d[n]! * this.d[m]!, ap = Math.abs(p);
        if (ap >= TWO_PROD_MIN && ap <= Number.MAX_VALUE) { this.d[dst] = neg ? -p : p; return; }
      } else {
        const r = Math.fround(this.s[n]! * this.s[m]!), ar = Math.abs(r);
        if (ar > MIN_NORMAL_F32 && ar <= MAX_F32) { this.s[dst] = neg ? -r : r; return; }
      }
    }
    this.binary(neg ? VOp.NMUL : VOp.MUL, dst, n, m, dbl);
  }

  /** VDIV. */
  div(dst: number, n: number, m: number, dbl: boolean): void {
    if ((this.regs[S.FPSCR]! & (SLOW_CTL | IXC)) === IXC) {
      if (dbl) {
        const q = this.d[n]! / this.d[m]!, aq = Math.abs(q);
        if (aq >= TWO_PROD_MIN && aq <= Number.MAX_VALUE) { this.d[dst] = q; return; }
      } else {
        const r = Math.fround(this.s[n]! / this.s[m]!), ar = Math.abs(r);
        if (ar > MIN_NORMAL_F32 && ar <= MAX_F32) { this.s[dst] = r; return; }
      }
    }
    this.binary(VOp.DIV, dst, n, m, dbl);
  }

  /** VMLA / VMLS / VNMLA / VNMLS: (+-acc) + (+-(n * m)), two roundings. */
  mac(op: number, dst: number, n: number, m: number, dbl: boolean): void {
    if ((this.regs[S.FPSCR]! & (SLOW_CTL | IXC)) === IXC) {
      const negAcc = op === VOp.NMLA || op === VOp.NMLS, negProd = op === VOp.MLS || op === VOp.NMLA;
      if (dbl) {
        const p = this.d[n]! * this.d[m]!, ap = Math.abs(p), acc = this.d[dst]!;
        const r = (negAcc ? -acc : acc) + (negProd ? -p : p);
        if (ap >= TWO_PROD_MIN && ap <= Number.MAX_VALUE && r - r === 0) { this.d[dst] = r; return; }
      } else {
        const p = Math.fround(this.s[n]! * this.s[m]!), ap = Math.abs(p), acc = this.s[dst]!;
        const r = Math.fround((negAcc ? -acc : acc) + (negProd ? -p : p));
        if (ap > MIN_NORMAL_F32 && ap <= MAX_F32 && r - r === 0) { this.s[dst] = r; return; }
      }
    }
    this.binary(op, dst, n, m, dbl);
  }

  /** One arithmetic op: dst = op(n, m) or, for the accumulating forms, op(dst, n, m). */
  binary(op: number, dst: number, n: number, m: number, dbl: boolean): void {
    const ctl = this.regs[S.FPSCR]!;
    if ((ctl & SLOW_CTL) === 0) {
      this.fl = 0;
      this.bail = false;
      this.needIx = (ctl & IXC) === 0;
      const x = dbl ? this.d[n]! : this.s[n]!, y = dbl ? this.d[m]! : this.s[m]!;
      const acc = dbl ? this.d[dst]! : this.s[dst]!;
      let r: number;
      switch (op) {
        case VOp.ADD: r = this.fadd(x, y, dbl); break;
        case VOp.SUB: r = this.fadd(x, -y, dbl); break;
        case VOp.MUL: r = this.fmul(x, y, dbl); break;
        case VOp.DIV: r = this.fdiv(x, y, dbl); break;
        case VOp.NMUL: r = -this.fmul(x, y, dbl); break;
        case VOp.MLA: r = this.fadd(acc, this.fmul(x, y, dbl), dbl); break;
        case VOp.MLS: r = this.fadd(acc, -this.fmul(x, y, dbl), dbl); break;
        case VOp.NMLA: r = this.fadd(-acc, -this.fmul(x, y, dbl), dbl); break;
        case VOp.NMLS: r = this.fadd(-acc, this.fmul(x, y, dbl), dbl); break;
        case VOp.FMA: r = this.ffma(acc, x, y, dbl); break;
        case VOp.FMS: r = this.ffma(acc, -x, y, dbl); break;
        case VOp.FNMA: r = this.ffma(-acc, -x, y, dbl); break;
        case VOp.FNMS: r = this.ffma(-acc, x, y, dbl); break;
        default: return;
      }
      if (!this.bail) {
        if (dbl) this.d[dst] = r; else this.s[dst] = r;
        if (this.fl !== 0) this.regs[S.FPSCR] |= this.fl;
        return;
      }
    }
    this.slowBinary(op, dst, n, m, dbl);
  }

  private slowBinary(op: number, dst: number, n: number, m: number, dbl: boolean): void {
    const sf = this.soft(), f: Fmt = dbl ? F64 : F32;
    const a = this.bits(n, dbl), b = this.bits(m, dbl), c = this.bits(dst, dbl);
    let r: bigint;
    switch (op) {
      case VOp.ADD: r = sf.add(a, b, f); break;
      case VOp.SUB: r = sf.add(a, b, f, true); break;
      case VOp.MUL: r = sf.mul(a, b, f); break;
      case VOp.DIV: r = sf.div(a, b, f); break;
      case VOp.NMUL: r = sf.neg(sf.mul(a, b, f), f); break;
      // Non-fused multiply-accumulate: two roundings, NaN rules applied per step (as FPMul then FPAdd).
      case VOp.MLA: r = sf.add(c, sf.mul(a, b, f), f); break;
      case VOp.MLS: r = sf.add(c, sf.neg(sf.mul(a, b, f), f), f); break;
      case VOp.NMLA: r = sf.add(sf.neg(c, f), sf.neg(sf.mul(a, b, f), f), f); break;
      case VOp.NMLS: r = sf.add(sf.neg(c, f), sf.mul(a, b, f), f); break;
      // Fused: operand negation is a sign flip before FPMulAdd (NaN operands included).
      case VOp.FMA: r = sf.fma(c, a, b, f); break;
      case VOp.FMS: r = sf.fma(c, sf.neg(a, f), b, f); break;
      case VOp.FNMA: r = sf.fma(sf.neg(c, f), sf.neg(a, f), b, f); break;
      default: r = sf.fma(sf.neg(c, f), a, b, f); break;
    }
    this.store(dst, r, dbl);
    this.raise(sf.flags);
  }

  unary(op: number, dst: number, m: number, dbl: boolean): void {
    const w = this.w;
    if (op !== VOp.SQRT) {
      // Sign-bit operations: never touch NaN payloads, no flags, no flushing.
      if (dbl) {
        const lo = w[m * 2]!, hi = w[m * 2 + 1]!;
        w[dst * 2] = lo;
        w[dst * 2 + 1] = op === VOp.ABS ? hi & 0x7fffffff : op === VOp.NEG ? hi ^ 0x80000000 : hi;
      } else {
        const x = w[m]!;
        w[dst] = op === VOp.ABS ? x & 0x7fffffff : op === VOp.NEG ? x ^ 0x80000000 : x;
      }
      return;
    }
    const ctl = this.regs[S.FPSCR]!;
    if ((ctl & SLOW_CTL) === 0) {
      this.fl = 0;
      this.bail = false;
      this.needIx = (ctl & IXC) === 0;
      const r = this.fsqrt(dbl ? this.d[m]! : this.s[m]!, dbl);
      if (!this.bail) {
        if (dbl) this.d[dst] = r; else this.s[dst] = r;
        if (this.fl !== 0) this.regs[S.FPSCR] |= this.fl;
        return;
      }
    }
    const sf = this.soft(), f = dbl ? F64 : F32;
    this.store(dst, sf.sqrt(this.bits(m, dbl), f), dbl);
    this.raise(sf.flags);
  }
}
