import { S } from './cpu-state.js';
import { SoftFp } from './softfp.js';

/**
 * The VFP register file as the helpers see it (D and S views over one buffer,
 * plus raw words), the CPU's FPSCR slot, and the exact-arithmetic engine
 * shared by VfpArith and VfpConvert for their slow paths.
 */
export class VfpRegs {
  protected readonly sf = new SoftFp();

  constructor(protected d: Float64Array, protected s: Float32Array, protected w: Int32Array, protected regs: Int32Array) {}

  protected bits(i: number, dbl: boolean): bigint {
    const w = this.w;
    return dbl ? (BigInt(w[i * 2 + 1]! >>> 0) << 32n) | BigInt(w[i * 2]! >>> 0) : BigInt(w[i]! >>> 0);
  }

  protected store(i: number, x: bigint, dbl: boolean): void {
    const w = this.w;
    if (dbl) { w[i * 2] = Number(x & 0xffffffffn) | 0; w[i * 2 + 1] = Number(x >> 32n) | 0; } else w[i] = Number(x) | 0;
  }

  protected soft(): SoftFp {
    return this.sf.setup(this.regs[S.FPSCR]!);
  }

  protected raise(flags: number): void {
    if (flags !== 0) this.regs[S.FPSCR] |= flags;
  }
}
