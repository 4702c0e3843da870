import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GuestMemory } from '@tsemu/tcg';
import { ArmCpuState, S } from '../src/cpu-state.js';
import { makeMediaHelpers } from '../src/media-helpers.js';

// The specialised UADD8 / UQSUB8 / SEL helpers (pure, small enough for V8 to
// inline) against the generic parallel helper and SEL's definition.
describe('media helpers', () => {
  const cpu = new ArmCpuState(new GuestMemory(1 << 16));
  const h = makeMediaHelpers(cpu);
  const call = (f: (...a: number[]) => number | void, ...a: number[]): number => f(...a) as number;
  const word = fc.oneof(fc.integer({ min: -0x80000000, max: 0x7fffffff }), fc.constantFrom(0, -1, 0x01010101, 0x80808080 | 0, 0x7f7f7f7f, 0xff00ff00 | 0));

  it('UADD8: the same result and GE bits as the generic helper', () => {
    const seed = 0x0add8;
    console.log(`media helpers UADD8 seed ${seed}`);
    fc.assert(fc.property(word, word, (a, b) => {
      cpu.regs[S.GE] = 0;
      const want = call(h.parallel.fn, 5, 4, a, b), wantGe = cpu.regs[S.GE];
      expect(call(h.uadd8.fn, a, b)).toBe(want);
      expect(call(h.uadd8ge.fn, a, b)).toBe(wantGe);
    }), { seed, numRuns: 3000 });
  });

  it('UQSUB8 and the pure parallel helper: the generic results, GE untouched', () => {
    const seed = 0x05ab8;
    console.log(`media helpers UQSUB8 seed ${seed}`);
    fc.assert(fc.property(word, word, fc.constantFrom(2, 3, 6, 7), fc.integer({ min: 0, max: 5 }), (a, b, prefix, op) => {
      cpu.regs[S.GE] = 0xa;
      expect(call(h.parallelPure.fn, prefix, op, a, b)).toBe(call(h.parallel.fn, prefix, op, a, b));
      if (prefix === 6 && op === 5) expect(call(h.uqsub8.fn, a, b)).toBe(call(h.parallel.fn, 6, 5, a, b));
      expect(cpu.regs[S.GE]).toBe(0xa);
    }), { seed, numRuns: 3000 });
  });

  it('SEL takes byte i from the first operand where GE[i] is set', () => {
    for (let ge = 0; ge < 16; ge++) {
      let want = 0;
      for (let i = 0; i < 4; i++) want |= ((ge >> i) & 1 ? 0x11223344 : 0x55667788 | 0) & (0xff << (8 * i));
      expect(call(h.sel.fn, 0x11223344, 0x55667788 | 0, ge)).toBe(want);
    }
  });
});
