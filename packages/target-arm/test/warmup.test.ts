import { expect, it } from 'vitest';
import { GuestMemory, Op, PAGE_BITS, type IrBlock } from '@tsemu/tcg';
import { Excp, S, makeHelpers, ArmCpuState } from '../src/index.js';
import { warmUpFrontEnd } from '../src/translate/warmup.js';

// The warm-up is only worth anything if its synthetic TBs really take the
// translator paths it is there for (README, Speed): check each one.

/** Value of the constant `mov`ed into CPU-state slot `slot`, or undefined. */
function constMovedTo(ir: IrBlock, slot: number): number | undefined {
  for (const o of ir.ops) {
    if (o.op !== Op.mov || o.args[0] !== slot) continue;
    const src = ir.temps[o.args[1]!]!;
    if (src.kind === 'const') return src.value;
  }
  return undefined;
}

const insnPcs = (ir: IrBlock): number[] => ir.ops.filter((o) => o.op === Op.insnStart).map((o) => o.args[0]!);

it('translates a loop closed past the limit across a page, a Thumb mix ending in a rejected encoding, and an A32 mix', () => {
  const [loop, thumb, arm] = warmUpFrontEnd(makeHelpers(new ArmCpuState(new GuestMemory(1 << 16))));
  // 70 adds and the branch back: one self-looping TB (loopCloses ran on past 64), on two pages.
  expect(loop!.icount).toBe(71);
  expect(loop!.loopSlot).toBe(0);
  expect(new Set(insnPcs(loop!).map((pc) => pc >>> PAGE_BITS)).size).toBe(2);
  // push, it, moveq, stmia, ldmia, cbz, mrc, vadd, umull, pop, then the cbz target and the rejected coprocessor word.
  expect(thumb!.icount).toBe(12);
  expect(constMovedTo(thumb!, S.EXCP)).toBe(Excp.UDEF);
  expect(constMovedTo(thumb!, S.EXCP_ARG)).toBe(0xfe000000 | 0);
  // push, add, moveq, mrc, vadd, umull, pop: no undefined instruction among them.
  expect(arm!.icount).toBe(7);
  expect(constMovedTo(arm!, S.EXCP)).toBeUndefined();
});
