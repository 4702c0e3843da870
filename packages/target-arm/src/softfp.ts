/**
 * Exact IEEE 754 binary32/binary64 arithmetic on bit patterns (BigInt), with
 * ARM's FPSCR controls and flags: rounding mode, flush-to-zero (denormal
 * inputs become zero and raise IDC; results tiny before rounding become zero
 * and raise UFC), default-NaN mode, and the cumulative exception flags. This
 * is the reference path: VfpArith uses it whenever the fast path with JS
 * numbers (round-to-nearest, no flushing, finite operands) cannot decide the
 * result or its flags. Operations follow the ARM pseudocode (FPAdd, FPMul,
 * FPDiv, FPSqrt, FPMulAdd, FPProcessNaNs, FPRound, FPToFixed, FixedToFP).
 */

export const FpFlag = { IOC: 1, DZC: 2, OFC: 4, UFC: 8, IXC: 16, IDC: 128 } as const;
export const RMode = { RN: 0, RP: 1, RM: 2, RZ: 3 } as const;

/** A binary floating-point format: fraction bits, exponent bias and width. */
export interface Fmt { P: number; bias: number; ebits: number; W: number }
export const F32: Fmt = { P: 23, bias: 127, ebits: 8, W: 32 };
export const F64: Fmt = { P: 52, bias: 1023, ebits: 11, W: 64 };

const ZERO = 0, FIN = 1, INF = 2, QNAN = 3, SNAN = 4;

/** An unpacked operand: finite values are (-1)^s * m * 2^e exactly. */
interface Val { s: number; cls: number; m: bigint; e: number; bits: bigint }

export function bitLength(m: bigint): number {
  return m === 0n ? 0 : m.toString(2).length;
}

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt((bitLength(n) >> 1) + 1); // >= sqrt(n): Newton decreases monotonically
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

export class SoftFp {
  flags = 0;
  mode = 0;
  fz = false;
  dn = false;

  /** Take rounding mode, FZ and DN from an FPSCR value; clear the flags. */
  setup(fpscr: number): this {
    this.mode = (fpscr >>> 22) & 3;
    this.fz = (fpscr & (1 << 24)) !== 0;
    this.dn = (fpscr & (1 << 25)) !== 0;
    this.flags = 0;
    return this;
  }

  private signBit(f: Fmt): bigint { return 1n << BigInt(f.W - 1); }
  neg(x: bigint, f: Fmt): bigint { return x ^ this.signBit(f); }
  private zero(s: number, f: Fmt): bigint { return s ? this.signBit(f) : 0n; }
  private inf(s: number, f: Fmt): bigint { return this.zero(s, f) | (BigInt((1 << f.ebits) - 1) << BigInt(f.P)); }
  private maxFinite(s: number, f: Fmt): bigint { return this.inf(s, f) - 1n; }
  defaultNaN(f: Fmt): bigint { return (BigInt((1 << f.ebits) - 1) << BigInt(f.P)) | (1n << BigInt(f.P - 1)); }

  unpack(bits: bigint, f: Fmt, flush = true): Val {
    const s = Number(bits >> BigInt(f.W - 1)) & 1;
    const ex = Number((bits >> BigInt(f.P)) & BigInt((1 << f.ebits) - 1));
    const frac = bits & ((1n << BigInt(f.P)) - 1n);
    if (ex === (1 << f.ebits) - 1) {
      const cls = frac === 0n ? INF : (frac >> BigInt(f.P - 1)) & 1n ? QNAN : SNAN;
      return { s, cls, m: 0n, e: 0, bits };
    }
    if (ex === 0) {
      if (frac === 0n) return { s, cls: ZERO, m: 0n, e: 0, bits };
      if (flush && this.fz) { this.flags |= FpFlag.IDC; return { s, cls: ZERO, m: 0n, e: 0, bits }; }
      return { s, cls: FIN, m: frac, e: 1 - f.bias - f.P, bits };
    }
    return { s, cls: FIN, m: frac | (1n << BigInt(f.P)), e: ex - f.bias - f.P, bits };
  }

  /**
   * FPRound: round (-1)^s * (m + sticky fraction) * 2^e to format f. Callers
   * with a sticky remainder pass at least P+3 significant bits in m.
   */
  round(s: number, m: bigint, e: number, sticky: boolean, f: Fmt): bigint {
    if (m === 0n) return this.zero(s, f);
    const E = e + bitLength(m) - 1, emin = 1 - f.bias;
    const tiny = E < emin;
    if (tiny && this.fz) { this.flags |= FpFlag.UFC; return this.zero(s, f); }
    let q = Math.max(E, emin) - f.P;
    const sh = q - e;
    let M: bigint, inexact = sticky, inc = false;
    if (sh <= 0) M = m << BigInt(-sh);
    else {
      const shb = BigInt(sh), rem = m & ((1n << shb) - 1n), half = 1n << (shb - 1n);
      M = m >> shb;
      inexact = rem !== 0n || sticky;
      switch (this.mode) {
        case RMode.RN: inc = rem > half || (rem === half && (sticky || (M & 1n) === 1n)); break;
        case RMode.RP: inc = inexact && s === 0; break;
        case RMode.RM: inc = inexact && s === 1; break;
      }
    }
    if (inc) {
      M += 1n;
      if (M === 1n << BigInt(f.P + 1)) { M >>= 1n; q++; }
    }
    const normal = M >= 1n << BigInt(f.P);
    const be = normal ? q + f.P + f.bias : 0;
    if (be >= (1 << f.ebits) - 1) {
      this.flags |= FpFlag.OFC | FpFlag.IXC;
      const toInf = this.mode === RMode.RN || (this.mode === RMode.RP && s === 0) || (this.mode === RMode.RM && s === 1);
      return toInf ? this.inf(s, f) : this.maxFinite(s, f);
    }
    if (inexact) this.flags |= tiny ? FpFlag.IXC | FpFlag.UFC : FpFlag.IXC;
    return this.zero(s, f) | (BigInt(be) << BigInt(f.P)) | (M & ((1n << BigInt(f.P)) - 1n));
  }

  private isNaN(v: Val): boolean { return v.cls >= QNAN; }

  private quiet(v: Val, f: Fmt): bigint {
    return this.dn ? this.defaultNaN(f) : v.bits | (1n << BigInt(f.P - 1));
  }

  /** FPProcessNaNs over the operands in priority order: first signalling NaN, else first quiet NaN. */
  private pickNaN(f: Fmt, ...vs: Val[]): bigint {
    let pick: Val | undefined;
    for (const v of vs) if (v.cls === SNAN) { this.flags |= FpFlag.IOC; pick ??= v; }
    pick ??= vs.find((v) => v.cls === QNAN)!;
    return this.quiet(pick, f);
  }

  private invalid(f: Fmt): bigint {
    this.flags |= FpFlag.IOC;
    return this.defaultNaN(f);
  }

  /** Exact sum of two finite (or zero) values, rounded once. */
  private sum(a: Val, b: Val, f: Fmt): bigint {
    if (a.cls === ZERO && b.cls === ZERO) return this.zero(a.s === b.s ? a.s : this.mode === RMode.RM ? 1 : 0, f);
    const e = a.cls === ZERO ? b.e : b.cls === ZERO ? a.e : Math.min(a.e, b.e);
    const va = a.cls === ZERO ? 0n : (a.s ? -a.m : a.m) << BigInt(a.e - e);
    const vb = b.cls === ZERO ? 0n : (b.s ? -b.m : b.m) << BigInt(b.e - e);
    const t = va + vb;
    if (t === 0n) return this.zero(this.mode === RMode.RM ? 1 : 0, f);
    return t < 0n ? this.round(1, -t, e, false, f) : this.round(0, t, e, false, f);
  }

  add(x: bigint, y: bigint, f: Fmt, subtract = false): bigint {
    const a = this.unpack(x, f), b = this.unpack(y, f);
    if (this.isNaN(a) || this.isNaN(b)) return this.pickNaN(f, a, b);
    if (subtract) b.s ^= 1;
    if (a.cls === INF) return b.cls === INF && a.s !== b.s ? this.invalid(f) : this.inf(a.s, f);
    if (b.cls === INF) return this.inf(b.s, f);
    return this.sum(a, b, f);
  }

  mul(x: bigint, y: bigint, f: Fmt): bigint {
    const a = this.unpack(x, f), b = this.unpack(y, f);
    if (this.isNaN(a) || this.isNaN(b)) return this.pickNaN(f, a, b);
    const s = a.s ^ b.s;
    if ((a.cls === INF && b.cls === ZERO) || (a.cls === ZERO && b.cls === INF)) return this.invalid(f);
    if (a.cls === INF || b.cls === INF) return this.inf(s, f);
    if (a.cls === ZERO || b.cls === ZERO) return this.zero(s, f);
    return this.round(s, a.m * b.m, a.e + b.e, false, f);
  }

  div(x: bigint, y: bigint, f: Fmt): bigint {
    const a = this.unpack(x, f), b = this.unpack(y, f);
    if (this.isNaN(a) || this.isNaN(b)) return this.pickNaN(f, a, b);
    const s = a.s ^ b.s;
    if ((a.cls === INF && b.cls === INF) || (a.cls === ZERO && b.cls === ZERO)) return this.invalid(f);
    if (a.cls === INF) return this.inf(s, f);
    if (b.cls === INF || a.cls === ZERO) return this.zero(s, f);
    if (b.cls === ZERO) { this.flags |= FpFlag.DZC; return this.inf(s, f); }
    const k = Math.max(0, f.P + 4 + bitLength(b.m) - bitLength(a.m));
    const num = a.m << BigInt(k);
    return this.round(s, num / b.m, a.e - b.e - k, num % b.m !== 0n, f);
  }

  sqrt(x: bigint, f: Fmt): bigint {
    const a = this.unpack(x, f);
    if (this.isNaN(a)) return this.pickNaN(f, a);
    if (a.cls === ZERO) return this.zero(a.s, f);
    if (a.s) return this.invalid(f);
    if (a.cls === INF) return this.inf(0, f);
    let m = a.m, e = a.e;
    let k = Math.max(0, 2 * (f.P + 4) - bitLength(m));
    if ((e - k) & 1) k++;
    m <<= BigInt(k);
    e -= k;
    const root = isqrt(m);
    return this.round(0, root, e / 2, root * root !== m, f);
  }

  /** Fused (x * y) + c with one rounding; NaN priority c, x, y (FPMulAdd). */
  fma(c: bigint, x: bigint, y: bigint, f: Fmt): bigint {
    const ac = this.unpack(c, f), a = this.unpack(x, f), b = this.unpack(y, f);
    const infZero = (a.cls === INF && b.cls === ZERO) || (a.cls === ZERO && b.cls === INF);
    if (this.isNaN(ac) || this.isNaN(a) || this.isNaN(b)) {
      if (infZero && ac.cls === QNAN) return this.invalid(f);
      return this.pickNaN(f, ac, a, b);
    }
    if (infZero) return this.invalid(f);
    const ps = a.s ^ b.s;
    if (a.cls === INF || b.cls === INF) return ac.cls === INF && ac.s !== ps ? this.invalid(f) : this.inf(ps, f);
    if (ac.cls === INF) return this.inf(ac.s, f);
    const prod: Val = a.cls === ZERO || b.cls === ZERO
      ? { s: ps, cls: ZERO, m: 0n, e: 0, bits: 0n }
      : { s: ps, cls: FIN, m: a.m * b.m, e: a.e + b.e, bits: 0n };
    return this.sum(prod, ac, f);
  }

  /** Conversion between formats (VCVT.F64.F32 / .F32.F64); NaNs are quieted, keeping sign and top payload. */
  convert(x: bigint, from: Fmt, to: Fmt): bigint {
    const a = this.unpack(x, from);
    if (this.isNaN(a)) {
      if (a.cls === SNAN) this.flags |= FpFlag.IOC;
      if (this.dn) return this.defaultNaN(to);
      const frac = a.bits & ((1n << BigInt(from.P)) - 1n);
      const moved = to.P >= from.P ? frac << BigInt(to.P - from.P) : frac >> BigInt(from.P - to.P);
      return this.zero(a.s, to) | this.defaultNaN(to) | moved;
    }
    if (a.cls === INF) return this.inf(a.s, to);
    if (a.cls === ZERO) return this.zero(a.s, to);
    return this.round(a.s, a.m, a.e, false, to);
  }

  /**
   * FPToFixed: x * 2^fbits rounded to an integer in mode `mode`, saturated to
   * `size` bits (signed or unsigned); NaN gives 0. Invalid (IOC) replaces
   * inexact when the value is out of range.
   */
  toFixed(x: bigint, f: Fmt, signed: boolean, size: number, fbits: number, mode: number): number {
    const a = this.unpack(x, f);
    if (this.isNaN(a)) { this.flags |= FpFlag.IOC; return 0; }
    const max = signed ? 2 ** (size - 1) - 1 : 2 ** size - 1, min = signed ? -(2 ** (size - 1)) : 0;
    if (a.cls === INF) { this.flags |= FpFlag.IOC; return a.s ? min : max; }
    if (a.cls === ZERO) return 0;
    const e = a.e + fbits;
    let n: bigint, inexact = false;
    if (e >= 0) n = a.m << BigInt(Math.min(e, 200));
    else {
      const sh = BigInt(-e), rem = a.m & ((1n << sh) - 1n), half = 1n << (sh - 1n);
      n = a.m >> sh;
      inexact = rem !== 0n;
      const inc = mode === RMode.RN ? rem > half || (rem === half && (n & 1n) === 1n)
        : mode === RMode.RP ? inexact && a.s === 0 : mode === RMode.RM ? inexact && a.s === 1 : false;
      if (inc) n += 1n;
    }
    const v = a.s ? -n : n;
    if (v > BigInt(max)) { this.flags |= FpFlag.IOC; return max; }
    if (v < BigInt(min)) { this.flags |= FpFlag.IOC; return min; }
    if (inexact) this.flags |= FpFlag.IXC;
    return Number(v);
  }

  /** FixedToFP: the integer v scaled by 2^-fbits, rounded in the current mode. */
  fromFixed(v: number, fbits: number, f: Fmt): bigint {
    if (v === 0) return 0n;
    return this.round(v < 0 ? 1 : 0, BigInt(Math.abs(v)), -fbits, false, f);
  }

  /** FPCompare: NZCV in bits 31..28 (unordered 0011); `signalAll` (VCMPE) raises IOC for quiet NaNs too. */
  compare(x: bigint, y: bigint, f: Fmt, signalAll: boolean): number {
    const a = this.unpack(x, f), b = this.unpack(y, f);
    if (this.isNaN(a) || this.isNaN(b)) {
      if (signalAll || a.cls === SNAN || b.cls === SNAN) this.flags |= FpFlag.IOC;
      return 0x30000000;
    }
    const ka = this.key(a), kb = this.key(b);
    return ka === kb ? 0x60000000 : ka < kb ? 0x80000000 | 0 : 0x20000000;
  }

  /** Order key for non-NaN values: a scaled exact integer (infinities beyond every finite value). */
  private key(v: Val): bigint {
    if (v.cls === ZERO) return 0n;
    const big = 1n << 2400n;
    if (v.cls === INF) return v.s ? -big * 2n : big * 2n;
    const mag = v.m << BigInt(v.e + 1200);
    return v.s ? -mag : mag;
  }
}
