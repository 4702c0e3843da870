// VFP part of the random instruction generator: instructions on d0-d3 /
// s0-s7, operand bit patterns that reach the corner cases (denormals,
// infinities, quiet and signalling NaNs, values next to rounding and overflow
// boundaries), and random FPSCR control bits (rounding mode, FZ, DN), so the
// cumulative exception flags printed after each block are compared too.
import type { Mode, Rng } from './random-insns.js';

const CONDS = ['eq', 'ne', 'cs', 'cc', 'mi', 'pl', 'vs', 'vc', 'hi', 'ls', 'ge', 'lt', 'gt', 'le'];

/** Single-precision patterns: zeros, denormals, min/max normal, infinities, NaNs, ties and integers. */
const SINGLE = [0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x00400000, 0x00800000, 0x80800001, 0x7f7fffff, 0xff7fffff,
  0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001, 0x7f800001, 0xff900000, 0x3f800000, 0xbf800000, 0x3f800001, 0x33800000,
  0x34000000, 0x4b000000, 0x4b7fffff, 0x4f000000, 0xcf000000, 0x4f800000, 0x3f000000, 0x3fc00000, 0x40490fdb, 0x0d800000, 0x1f800000, 0x5f800000];

/** High words of double patterns (the low word is chosen separately). */
const DOUBLE_HI = [0x00000000, 0x80000000, 0x00000001, 0x000fffff, 0x00100000, 0x80100000, 0x7fefffff, 0xffefffff, 0x7ff00000,
  0xfff00000, 0x7ff80000, 0xfff80000, 0x7ff40000, 0x3ff00000, 0xbff00000, 0x3ca00000, 0x3cb00000, 0x41e00000, 0xc1e00000,
  0x41dfffff, 0x41f00000, 0x43300000, 0x47efffff, 0x38100000, 0x36a00000, 0x3fe00000, 0x40590000, 0x1ff00000, 0x5ff00000];
const DOUBLE_LO = [0x00000000, 0x00000001, 0xffffffff, 0x80000000, 0x20000000, 0x10000000, 0xe0000000, 0x00000800];

/** A 32-bit word for r<i> (even i: s(i) / low word of d(i/2); odd i: s(i) / high word). */
export function fpWord(rng: Rng, i: number): number {
  const k = rng.int(10);
  const nudge = (v: number): number => (rng.chance(0.3) ? v + rng.int(5) - 2 : v) >>> 0;
  if (k < 4) return nudge(rng.pick(SINGLE));
  if (k < 8) return i & 1 ? nudge(rng.pick(DOUBLE_HI)) : rng.chance(0.7) ? rng.pick(DOUBLE_LO) : rng.next() >>> 0;
  return rng.next() >>> 0;
}

/** FPSCR control bits for a block: rounding mode, sometimes FZ and DN; cumulative flags start clear. */
export function randomFpscr(rng: Rng): number {
  let v = rng.chance(0.5) ? 0 : rng.int(4) << 22;
  if (rng.chance(0.2)) v |= 1 << 24;
  if (rng.chance(0.2)) v |= 1 << 25;
  return v >>> 0;
}

/** One random VFP instruction on d0-d3 / s0-s7. */
export function randomVfpInsn(rng: Rng, mode: Mode): string {
  const d = (): string => `d${rng.int(4)}`, sr = (): string => `s${rng.int(8)}`;
  const dbl = rng.chance(0.5);
  const r = dbl ? d : sr, ty = dbl ? 'f64' : 'f32';
  let cond = '';
  if (rng.chance(0.2)) cond = rng.pick(CONDS);
  let text: string;
  switch (rng.int(8)) {
    case 0: case 1: text = `${rng.pick(['vadd', 'vsub', 'vmul', 'vdiv', 'vnmul', 'vmla', 'vmls', 'vnmla', 'vnmls'])}${cond}.${ty} ${r()}, ${r()}, ${r()}`; break;
    case 2: text = `${rng.pick(['vfma', 'vfms', 'vfnma', 'vfnms', 'vdiv', 'vadd'])}${cond}.${ty} ${r()}, ${r()}, ${r()}`; break;
    case 3: text = `${rng.pick(['vabs', 'vneg', 'vsqrt', 'vmov', 'vsqrt'])}${cond}.${ty} ${r()}, ${r()}`; break;
    case 4: text = rng.chance(0.3) ? `${rng.pick(['vcmp', 'vcmpe'])}${cond}.${ty} ${r()}, #0` : `${rng.pick(['vcmp', 'vcmpe'])}${cond}.${ty} ${r()}, ${r()}`; break;
    case 5: {
      const k = rng.int(6);
      if (k === 0) text = `vcvt${cond}.f64.f32 ${d()}, ${sr()}`;
      else if (k === 1) text = `vcvt${cond}.f32.f64 ${sr()}, ${d()}`;
      else if (k === 2 || k === 3) text = `${rng.pick(['vcvt', 'vcvtr'])}${cond}.${rng.pick(['s32', 'u32'])}.${ty} ${sr()}, ${r()}`;
      else text = `vcvt${cond}.${ty}.${rng.pick(['s32', 'u32'])} ${r()}, ${sr()}`;
      break;
    }
    case 6: { // fixed point, in place
      const size = rng.pick([16, 32]), fbits = 1 + rng.int(size);
      const fix = `${rng.pick(['s', 'u'])}${size}`, reg = r();
      text = rng.chance(0.5) ? `vcvt${cond}.${fix}.${ty} ${reg}, ${reg}, #${fbits}` : `vcvt${cond}.${ty}.${fix} ${reg}, ${reg}, #${fbits}`;
      break;
    }
    default: text = `vmov${cond}.${ty} ${r()}, #${rng.pick(['1.0', '-2.5', '0.5', '31.0', '-0.125', '17.0'])}`;
  }
  if (mode === 'thumb' && cond) return `it ${cond}\n  ${text}`;
  return text;
}
