import type { Helper } from '@tsemu/tcg';
import { S, type ArmCpuState } from './cpu-state.js';
import { makeVfpHelpers, type VfpHelpers } from './vfp-helpers.js';
import { makeMediaHelpers, type MediaHelpers } from './media-helpers.js';

function shiftBy(type: number, x: number, n: number): number {
  n &= 0xff;
  switch (type) {
    case 0: return n >= 32 ? 0 : x << n;
    case 1: return n >= 32 ? 0 : (x >>> n) | 0;
    case 2: return n >= 32 ? x >> 31 : x >> n;
    default: n &= 31; return (x >>> n) | (x << (32 - n));
  }
}

/** Helpers called from generated code; they close over one CPU's state. */
export interface ArmHelpers extends VfpHelpers, MediaHelpers {
  shift: Helper;
  shiftC: Helper;
  getCpsr: Helper;
  setCpsr: Helper;
}

export function makeHelpers(cpu: ArmCpuState): ArmHelpers {
  const r = cpu.regs;
  const shiftC = (type: number, x: number, n: number): number => {
    n &= 0xff;
    if (n === 0) return x;
    let c: number;
    switch (type) {
      case 0: c = n > 32 ? 0 : (x >>> (32 - n)) & 1; break;
      case 1: c = n > 32 ? 0 : (x >>> (n - 1)) & 1; break;
      case 2: c = n >= 32 ? x >>> 31 : (x >>> (n - 1)) & 1; break;
      default: { const m = n & 31; c = m === 0 ? x >>> 31 : (x >>> (m - 1)) & 1; }
    }
    r[S.CF] = c;
    return shiftBy(type, x, n);
  };
  return {
    shift: { name: 'shift', fn: shiftBy, pure: true },
    shiftC: { name: 'shiftC', fn: shiftC },
    // MRS APSR: the execution state bits (T, IT) read as zero.
    getCpsr: { name: 'getCpsr', fn: () => cpu.getCpsr() & ~0x0600fc20 },
    // MSR APSR: mask bit 1 writes N Z C V Q, bit 0 writes GE.
    setCpsr: {
      name: 'setCpsr', fn: (v: number, mask: number) => {
        if (mask & 2) { cpu.setNzcv(v); r[S.QF] = (v >>> 27) & 1; }
        if (mask & 1) r[S.GE] = (v >>> 16) & 0xf;
      },
    },
    ...makeVfpHelpers(cpu),
    ...makeMediaHelpers(cpu),
  };
}
