import { S } from './cpu-state.js';
import { F32, F64, FpFlag, RMode } from './softfp.js';
import { VfpRegs } from './vfp-regs.js';

const SLOW_CTL = 0x01c00000; // FPSCR RMode and FZ
const { IOC, OFC, IXC } = FpFlag;
const MIN_NORMAL_F32 = 2 ** -126;

/**
 * VCMP(E) and the VCVT family with FPSCR flags. As in VfpArith, round to
 * nearest without FZ and finite operands stay on JS numbers; the rest goes
 * through SoftFp.
 */
export class VfpConvert extends VfpRegs {
  /** VCMP / VCMPE (`signalAll`) against register m or +0; sets the FPSCR NZCV slot. */
  compare(a: number, m: number, dbl: boolean, withZero: boolean, signalAll: boolean): void {
    const x = dbl ? this.d[a]! : this.s[a]!, y = withZero ? 0 : dbl ? this.d[m]! : this.s[m]!;
    const r = this.regs;
    if (x === x && y === y && (r[S.FPSCR]! & (1 << 24)) === 0) {
      r[S.FPNZCV] = x === y ? 0x60000000 : x < y ? 0x80000000 | 0 : 0x20000000;
      return;
    }
    const sf = this.soft(), f = dbl ? F64 : F32;
    r[S.FPNZCV] = sf.compare(this.bits(a, dbl), withZero ? 0n : this.bits(m, dbl), f, signalAll);
    this.raise(sf.flags);
  }

  /** VCVT between single and double precision (`toSingle`: F32.F64). */
  convertFloat(dst: number, src: number, toSingle: boolean): void {
    const r = this.regs;
    if ((r[S.FPSCR]! & SLOW_CTL) === 0) {
      if (!toSingle) {
        const v = this.s[src]!;
        if (v - v === 0) { this.d[dst] = v; return; }
      } else {
        const v = this.d[src]!, q = Math.fround(v);
        if (v - v === 0 && (q === v || Math.abs(q) > MIN_NORMAL_F32)) {
          this.s[dst] = q;
          if (q !== v) r[S.FPSCR] |= q - q !== 0 ? OFC | IXC : IXC;
          return;
        }
      }
    }
    const sf = this.soft();
    const x = this.bits(src, toSingle);
    this.store(dst, toSingle ? sf.convert(x, F64, F32) : sf.convert(x, F32, F64), !toSingle);
    this.raise(sf.flags);
  }

  /** VCVT from a 32-bit integer in S[src] to floating point. */
  fromInt(dst: number, src: number, dbl: boolean, signed: boolean): void {
    const x = this.w[src]!, v = signed ? x : x >>> 0;
    if (dbl) { this.d[dst] = v; return; } // exact
    const r = this.regs;
    if ((r[S.FPSCR]! & SLOW_CTL) === 0) {
      const q = Math.fround(v);
      this.s[dst] = q;
      if (q !== v) r[S.FPSCR] |= IXC;
      return;
    }
    const sf = this.soft();
    this.store(dst, sf.fromFixed(v, 0, F32), false);
    this.raise(sf.flags);
  }

  /** VCVT / VCVTR from floating point to a 32-bit integer in S[dst]: toward zero, or FPSCR rounding when `useMode`. */
  toInt(dst: number, src: number, dbl: boolean, signed: boolean, useMode: boolean): void {
    const r = this.regs, ctl = r[S.FPSCR]!;
    if ((ctl & (1 << 24)) === 0 && (!useMode || (ctl & 0x00c00000) === 0)) {
      const x = dbl ? this.d[src]! : this.s[src]!;
      if (x - x === 0) {
        let t = Math.trunc(x);
        if (useMode) { // round half to even
          const f = Math.floor(x), diff = x - f;
          t = diff > 0.5 || (diff === 0.5 && f % 2 !== 0) ? f + 1 : f;
        }
        const max = signed ? 0x7fffffff : 0xffffffff, min = signed ? -0x80000000 : 0;
        if (t > max || t < min) { r[S.FPSCR] |= IOC; t = t > max ? max : min; }
        else if (t !== x) r[S.FPSCR] |= IXC;
        this.w[dst] = t | 0;
        return;
      }
    }
    const sf = this.soft();
    this.w[dst] = sf.toFixed(this.bits(src, dbl), dbl ? F64 : F32, signed, 32, 0, useMode ? sf.mode : RMode.RZ) | 0;
    this.raise(sf.flags);
  }

  /**
   * VCVT between floating point and fixed point, in place on register `reg`:
   * `size` 16 or 32 bits, `fbits` fraction bits. To fixed rounds toward zero,
   * from fixed to nearest (both ignore FPSCR.RMode, as qemu-arm does). Results
   * are sign- or zero-extended to the register width.
   */
  fixed(reg: number, dbl: boolean, toFixed: boolean, signed: boolean, size: number, fbits: number): void {
    const sf = this.soft(), f = dbl ? F64 : F32, w = this.w;
    if (toFixed) {
      const v = sf.toFixed(this.bits(reg, dbl), f, signed, size, fbits, RMode.RZ);
      if (dbl) { w[reg * 2] = v | 0; w[reg * 2 + 1] = v < 0 ? -1 : 0; } else w[reg] = v | 0;
    } else {
      const raw = dbl ? w[reg * 2]! : w[reg]!;
      const v = size === 16 ? (signed ? (raw << 16) >> 16 : raw & 0xffff) : signed ? raw : raw >>> 0;
      sf.mode = RMode.RN;
      this.store(reg, sf.fromFixed(v, fbits, f), dbl);
    }
    this.raise(sf.flags);
  }
}
