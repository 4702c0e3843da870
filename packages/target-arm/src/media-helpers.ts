import type { Helper } from '@tsemu/tcg';
import { S, type ArmCpuState } from './cpu-state.js';

export interface MediaHelpers {
  qadd: Helper; qsub: Helper; qdadd: Helper; qdsub: Helper; addSetQ: Helper;
  ssat: Helper; usat: Helper; ssat16: Helper; usat16: Helper;
  parallel: Helper; parallelPure: Helper; uadd8: Helper; uadd8ge: Helper; uqsub8: Helper; sel: Helper; usad8: Helper; rbit: Helper; dualMul: Helper;
}

/**
 * Saturating, parallel (SIMD-within-a-register) and bit-reversal operations:
 * rare enough to live in helpers rather than inline IR.
 */
export function makeMediaHelpers(cpu: ArmCpuState): MediaHelpers {
  const r = cpu.regs;
  const satS = (v: number, bits: number): number => {
    const max = 2 ** (bits - 1) - 1, min = -(2 ** (bits - 1));
    if (v > max) { r[S.QF] = 1; return max; }
    if (v < min) { r[S.QF] = 1; return min; }
    return v;
  };
  const satU = (v: number, bits: number): number => {
    const max = 2 ** bits - 1;
    if (v > max) { r[S.QF] = 1; return max; }
    if (v < 0) { r[S.QF] = 1; return 0; }
    return v;
  };
  const qadd = (a: number, b: number): number => satS(a + b, 32) | 0;
  const qsub = (a: number, b: number): number => satS(a - b, 32) | 0;
  // op: bits 0-2 = ADD16 ASX SAX SUB16 ADD8 SUB8 (A32 op2 order 0,1,2,3,4,7 mapped 0..5); prefix: 1 S, 2 Q, 3 SH, 5 U, 6 UQ, 7 UH
  const parallel = (prefix: number, op: number, a: number, b: number): number => {
    const signed = prefix < 4, kind = prefix & 3; // 1 modular (sets GE), 2 saturating, 3 halving
    const lanes = op >= 4 ? 4 : 2, bits = lanes === 4 ? 8 : 16, mask = (1 << bits) - 1;
    const lane = (x: number, i: number): number => {
      const v = (x >>> (i * bits)) & mask;
      return signed && v & (1 << (bits - 1)) ? v - (1 << bits) : v;
    };
    let res = 0, ge = 0;
    for (let i = 0; i < lanes; i++) {
      let sum: number, isAdd: boolean;
      if (op === 1) { isAdd = i === 1; sum = isAdd ? lane(a, 1) + lane(b, 0) : lane(a, 0) - lane(b, 1); } // ASX
      else if (op === 2) { isAdd = i === 0; sum = isAdd ? lane(a, 0) + lane(b, 1) : lane(a, 1) - lane(b, 0); } // SAX
      else { isAdd = op === 0 || op === 4; sum = isAdd ? lane(a, i) + lane(b, i) : lane(a, i) - lane(b, i); }
      let v: number;
      if (kind === 2) {
        const lo = signed ? -(1 << (bits - 1)) : 0, hi = signed ? (1 << (bits - 1)) - 1 : mask;
        v = sum < lo ? lo : sum > hi ? hi : sum;
      } else if (kind === 3) v = Math.floor(sum / 2);
      else {
        v = sum;
        const geSet = signed ? sum >= 0 : isAdd ? sum > mask : sum >= 0;
        if (geSet) ge |= lanes === 4 ? 1 << i : 3 << (i * 2);
      }
      res |= (v & mask) << (i * bits);
    }
    if (kind === 1) r[S.GE] = ge;
    return res | 0;
  };
  return {
    qadd: { name: 'qadd', fn: qadd },
    qsub: { name: 'qsub', fn: qsub },
    qdadd: { name: 'qdadd', fn: (a: number, b: number) => qadd(a, satS(b * 2, 32) | 0) },
    qdsub: { name: 'qdsub', fn: (a: number, b: number) => qsub(a, satS(b * 2, 32) | 0) },
    addSetQ: { name: 'addSetQ', fn: (a: number, b: number) => { const v = a + b; if (v !== (v | 0)) r[S.QF] = 1; return v | 0; } },
    ssat: { name: 'ssat', fn: (v: number, bits: number) => satS(v, bits) | 0 },
    usat: { name: 'usat', fn: (v: number, bits: number) => satU(v, bits) | 0 },
    ssat16: { name: 'ssat16', fn: (v: number, bits: number) => (satS((v << 16) >> 16, bits) & 0xffff) | (satS(v >> 16, bits) << 16) },
    usat16: { name: 'usat16', fn: (v: number, bits: number) => (satU((v << 16) >> 16, bits) & 0xffff) | (satU(v >> 16, bits) << 16) },
    parallel: { name: 'parallel', fn: parallel },
    // The saturating and halving forms leave GE alone: the same function, but pure (no write-back around it).
    parallelPure: { name: 'parallelPure', fn: parallel, pure: true },
    // UADD8 and SEL are what glibc's string functions (strlen, strchr, strcmp, memchr)
    // run per word: small pure helpers V8 inlines, with GE passed as a value
    // (the generic helper above writes the CPU state, so every global is
    // written back around it). Bytes 0 and 2 are summed in `lo`, 1 and 3 in
    // `hi`, 16-bit lanes apart, so each carry lands in bit 8 of its lane.
    uadd8: {
      name: 'uadd8', fn: (a: number, b: number) =>
        ((((a & 0xff00ff) + (b & 0xff00ff)) & 0xff00ff) | ((((a >>> 8) & 0xff00ff) + ((b >>> 8) & 0xff00ff)) & 0xff00ff) << 8) | 0,
      pure: true,
    },
    uadd8ge: {
      name: 'uadd8ge', fn: (a: number, b: number) => {
        const lo = (a & 0xff00ff) + (b & 0xff00ff), hi = ((a >>> 8) & 0xff00ff) + ((b >>> 8) & 0xff00ff);
        return ((lo >>> 8) & 1) | ((hi >>> 7) & 2) | ((lo >>> 22) & 4) | ((hi >>> 21) & 8);
      },
      pure: true,
    },
    // UQSUB8 (glibc's strcmp / strchr): each byte max(a - b, 0); GE is untouched.
    uqsub8: {
      name: 'uqsub8', fn: (a: number, b: number) => {
        const d0 = (a & 0xff) - (b & 0xff), d1 = ((a >>> 8) & 0xff) - ((b >>> 8) & 0xff);
        const d2 = ((a >>> 16) & 0xff) - ((b >>> 16) & 0xff), d3 = (a >>> 24) - (b >>> 24);
        return (d0 > 0 ? d0 : 0) | (d1 > 0 ? d1 << 8 : 0) | (d2 > 0 ? d2 << 16 : 0) | (d3 > 0 ? d3 << 24 : 0);
      },
      pure: true,
    },
    // SEL: byte i from a where GE[i] is set, else from b (GE passed in: pure).
    sel: {
      name: 'sel', fn: (a: number, b: number, ge: number) => {
        const m = ((ge & 1) * 0xff) | ((ge & 2) * 0x7f80) | ((ge & 4) * 0x3fc000) | ((ge & 8) * 0x1fe00000);
        return (a & m) | (b & ~m);
      },
      pure: true,
    },
    usad8: {
      name: 'usad8', fn: (a: number, b: number) => {
        let s = 0;
        for (let i = 0; i < 32; i += 8) s += Math.abs(((a >>> i) & 0xff) - ((b >>> i) & 0xff));
        return s;
      }, pure: true,
    },
    rbit: {
      name: 'rbit', fn: (x: number) => {
        let v = 0;
        for (let i = 0; i < 32; i++) v |= ((x >>> i) & 1) << (31 - i);
        return v;
      }, pure: true,
    },
    // SMUAD/SMUSD/SMLAD/SMLSD: flags bit0 = subtract, bit1 = swap halves of m; sets Q on overflow.
    dualMul: {
      name: 'dualMul', fn: (n: number, m: number, acc: number, flags: number) => {
        if (flags & 2) m = (m >>> 16) | (m << 16);
        const p1 = ((n << 16) >> 16) * ((m << 16) >> 16), p2 = (n >> 16) * (m >> 16);
        const v = (flags & 1 ? p1 - p2 : p1 + p2) + acc;
        if (v !== (v | 0)) r[S.QF] = 1;
        return v | 0;
      },
    },
  };
}
