import { generateSource } from './backend-js.js';
import { IrBuilder, type GlobalSpec } from './builder.js';
import { Cond, MemOp, type Helper } from './ir.js';
import { optimizeBlock } from './optimize.js';

// Why: V8 optimises the translator passes (generateSource, writeBacks,
// propagate, liveness) after a few hot TBs, and the first TB that then takes
// a path they never ran (the first self-loop, impure helper, 64-bit pair op)
// deoptimises them and costs a second TurboFan compile of these big
// functions (60-200 ms of compile time each, see README Speed). One synthetic
// block through those passes early gives every such path type feedback. It
// is only optimised and turned into source text: never compiled or run.

const GLOBALS: readonly GlobalSpec[] = [{ name: 'w0', slot: 0 }, { name: 'w1', slot: 1 }, { name: 'w2', slot: 2 }, { name: 'w3', slot: 3 }];
const noop = (): number => 0;
const IMPURE: Helper = { name: 'warm_impure', fn: noop };
const PURE: Helper = { name: 'warm_pure', fn: noop, pure: true };
const FAULTING: Helper = { name: 'warm_fault', fn: noop, pure: true, mayFault: true };

/** Runs the synthetic block (plain and self-looping) through the passes; returns the two sources (for tests). */
export function warmUpTranslator(key?: { pc: string; flags: string }): string[] {
  const out: string[] = [];
  for (const loop of [false, true]) {
    const b = new IrBuilder(GLOBALS);
    const [g0, g1, g2, g3] = [b.global(0), b.global(1), b.global(2), b.global(3)];
    const t = b.temp(), u = b.temp(), lo = b.temp(), hi = b.temp();
    b.insnStart(0x1000);
    b.ld(t, g0, MemOp.u32);
    b.ld(u, g1, MemOp.s8);
    b.st(t, g1, MemOp.u16);
    b.st(u, g0, MemOp.u32 | MemOp.align);
    b.insnStart(0x1004);
    b.mulu2(lo, hi, t, u);
    b.add2(lo, hi, lo, hi, g2, g3);
    b.call(PURE, g2, lo, hi);
    b.call(IMPURE, -1, g1);
    b.call(FAULTING, g3, g0);
    const skip = b.label(), other = b.label();
    b.brcond(g2, b.c(0), Cond.eq, skip);
    b.setcond(g1, g2, g3, Cond.ltu);
    b.movcond(g0, g1, g2, t, u, Cond.lt);
    b.brcond(g3, g1, Cond.geu, other);
    b.exitTb(-1);
    b.setLabel(other);
    b.gotoTb(1);
    b.setLabel(skip);
    if (loop) b.loopSlot = 0;
    b.gotoTb(0);
    out.push(generateSource(optimizeBlock(b.finish()), false, true, key));
  }
  return out;
}
