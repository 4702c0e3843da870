/**
 * VFP arithmetic following the ARM pseudocode (FPMul, FPAdd, FPNeg, FPProcessNaNs),
 * on register indices. The fast path computes with JS numbers; only when an
 * operand or the result is NaN does the slow path replay the pseudocode on bit
 * patterns, so NaN signs and payloads match hardware (quieted first signalling
 * NaN, else first quiet NaN, else the positive default NaN; FPNeg flips NaN signs).
 */
export const VOp = {
  ADD: 0, SUB: 1, MUL: 2, DIV: 3, NMUL: 4, MLA: 5, MLS: 6, NMLA: 7, NMLS: 8, FMA: 9, FMS: 10, FNMA: 11, FNMS: 12,
  ABS: 16, NEG: 17, SQRT: 18, MOV: 19,
} as const;

/** A value during the slow path: `nan` holds the raw bits of a NaN, else null. */
interface FV { v: number; nan: bigint | null }

export class VfpArith {
  constructor(private d: Float64Array, private s: Float32Array, private w: Int32Array) {}

  private bits(i: number, dbl: boolean): bigint {
    const w = this.w;
    return dbl ? (BigInt(w[i * 2 + 1]! >>> 0) << 32n) | BigInt(w[i * 2]! >>> 0) : BigInt(w[i]! >>> 0);
  }

  private load(i: number, dbl: boolean): FV {
    const v = dbl ? this.d[i]! : this.s[i]!;
    return v === v ? { v, nan: null } : { v: NaN, nan: this.bits(i, dbl) };
  }

  private store(i: number, x: FV, dbl: boolean): void {
    const w = this.w;
    if (x.nan === null) { if (dbl) this.d[i] = x.v; else this.s[i] = x.v; return; }
    if (dbl) { w[i * 2] = Number(x.nan & 0xffffffffn) | 0; w[i * 2 + 1] = Number(x.nan >> 32n) | 0; }
    else w[i] = Number(x.nan) | 0;
  }

  /** One arithmetic op: dst = op(n, m) or, for the accumulating forms, op(dst, n, m). */
  binary(op: number, dst: number, n: number, m: number, dbl: boolean): void {
    const x = dbl ? this.d[n]! : this.s[n]!, y = dbl ? this.d[m]! : this.s[m]!;
    const acc = dbl ? this.d[dst]! : this.s[dst]!;
    const rnd = dbl ? (v: number) => v : Math.fround;
    let r: number;
    switch (op) {
      case VOp.ADD: r = x + y; break;
      case VOp.SUB: r = x - y; break;
      case VOp.MUL: r = x * y; break;
      case VOp.DIV: r = x / y; break;
      case VOp.NMUL: r = -(x * y); break;
      case VOp.MLA: r = acc + rnd(x * y); break;
      case VOp.MLS: r = acc - rnd(x * y); break;
      case VOp.NMLA: r = -acc - rnd(x * y); break;
      case VOp.NMLS: r = -acc + rnd(x * y); break;
      // Fused forms: exact for single precision (the double product is exact); not yet fused for double.
      case VOp.FMA: r = acc + x * y; break;
      case VOp.FMS: r = acc - x * y; break;
      case VOp.FNMA: r = -acc - x * y; break;
      case VOp.FNMS: r = -acc + x * y; break;
      default: return;
    }
    if (r === r) { if (dbl) this.d[dst] = r; else this.s[dst] = r; return; }
    this.store(dst, this.slowBinary(op, dst, n, m, dbl), dbl);
  }

  unary(op: number, dst: number, m: number, dbl: boolean): void {
    const w = this.w;
    if (op === VOp.ABS || op === VOp.NEG || op === VOp.MOV) {
      // Sign-bit operations: never touch NaN payloads.
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
    const a = this.load(m, dbl);
    if (a.nan !== null) { this.store(dst, this.processNaNs(dbl, a)!, dbl); return; }
    this.store(dst, a.v < 0 ? this.defaultNaN(dbl) : { v: Math.sqrt(a.v), nan: null }, dbl);
  }

  private defaultNaN(dbl: boolean): FV {
    return { v: NaN, nan: dbl ? 0x7ff8000000000000n : 0x7fc00000n };
  }

  private processNaNs(dbl: boolean, ...xs: FV[]): FV | null {
    const q = dbl ? 0x0008000000000000n : 0x400000n;
    for (const x of xs) if (x.nan !== null && (x.nan & q) === 0n) return { v: NaN, nan: x.nan | q };
    for (const x of xs) if (x.nan !== null) return x;
    return null;
  }

  private neg(x: FV, dbl: boolean): FV {
    return x.nan === null ? { v: -x.v, nan: null } : { v: NaN, nan: x.nan ^ (dbl ? 1n << 63n : 1n << 31n) };
  }

  private arith(kind: 'add' | 'sub' | 'mul' | 'div', a: FV, b: FV, dbl: boolean): FV {
    const p = this.processNaNs(dbl, a, b);
    if (p) return p;
    const r = kind === 'add' ? a.v + b.v : kind === 'sub' ? a.v - b.v : kind === 'mul' ? a.v * b.v : a.v / b.v;
    if (r !== r) return this.defaultNaN(dbl);
    return { v: dbl ? r : Math.fround(r), nan: null };
  }

  private slowBinary(op: number, dst: number, n: number, m: number, dbl: boolean): FV {
    const a = this.load(n, dbl), b = this.load(m, dbl), acc = this.load(dst, dbl);
    switch (op) {
      case VOp.ADD: return this.arith('add', a, b, dbl);
      case VOp.SUB: return this.arith('sub', a, b, dbl);
      case VOp.MUL: return this.arith('mul', a, b, dbl);
      case VOp.DIV: return this.arith('div', a, b, dbl);
      case VOp.NMUL: return this.neg(this.arith('mul', a, b, dbl), dbl);
      case VOp.MLA: return this.arith('add', acc, this.arith('mul', a, b, dbl), dbl);
      case VOp.MLS: return this.arith('add', acc, this.neg(this.arith('mul', a, b, dbl), dbl), dbl);
      case VOp.NMLA: return this.arith('add', this.neg(acc, dbl), this.neg(this.arith('mul', a, b, dbl), dbl), dbl);
      case VOp.NMLS: return this.arith('add', this.neg(acc, dbl), this.arith('mul', a, b, dbl), dbl);
      default: {
        // Fused: NaN operands are processed together (accumulator first), then one rounding.
        const negAcc = op === VOp.FNMA || op === VOp.FNMS, negProd = op === VOp.FMS || op === VOp.FNMA;
        const ac = negAcc ? this.neg(acc, dbl) : acc, an = negProd ? this.neg(a, dbl) : a;
        const p = this.processNaNs(dbl, ac, an, b);
        if (p) return p;
        return this.defaultNaN(dbl);
      }
    }
  }
}
