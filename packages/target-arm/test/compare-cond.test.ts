import { describe, expect, it } from 'vitest';
import { GuestMemory } from '@tsemu/tcg';
import { ArmCpu, EXIT_EXCEPTION, S } from '../src/index.js';

// A condition read right after CMP / SUBS is translated as a compare of the
// operands (DisasContext.cmpAt). These programs check every condition against
// NZCV computed here from the ARM rules, also when a flag write (MOVS) or a
// write to an operand register sits between the compare and the condition.
const EDGE = [0, 1, -1, 2, 5, -5, 0x7fffffff, -0x80000000, 0x80000001 | 0];

/** ARM condition `c` on NZCV. */
function holds(c: number, n: boolean, z: boolean, cf: boolean, v: boolean): boolean {
  const r = [z, cf, n, v, cf && !z, n === v, !z && n === v][c >>> 1]!;
  return c & 1 ? !r : r;
}

/** NZCV of a - b. */
function subFlags(a: number, b: number): [boolean, boolean, boolean, boolean] {
  const r = (a - b) | 0;
  return [r < 0, r === 0, a >>> 0 >= b >>> 0, ((a ^ b) & (a ^ r)) < 0];
}

const orrIf = (c: number): number => ((c << 28) | 0x01822005 | (c << 7)) >>> 0; // orr<c> r2, r2, r5, lsl #c
const SVC = 0xef000000;
/** Each program: [words, expected r2 bit for condition c given r0, r1]. */
const PROGRAMS: [string, (c: number) => number[], (c: number, a: number, b: number) => boolean][] = [
  ['cmp; orr<c>', (c) => [0xe1500001, orrIf(c), SVC], (c, a, b) => holds(c, ...subFlags(a, b))],
  ['subs r0, r0, r1; orr<c>', (c) => [0xe0500001, orrIf(c), SVC], (c, a, b) => holds(c, ...subFlags(a, b))],
  ['cmp; movs r3, r0; orr<c>', (c) => [0xe1500001, 0xe1b03000, orrIf(c), SVC], (c, a, b) => {
    const [, , cf, v] = subFlags(a, b);
    return holds(c, a < 0, a === 0, cf, v);
  }],
  ['cmp; add r0, r0, #5; orr<c>', (c) => [0xe1500001, 0xe2800005, orrIf(c), SVC], (c, a, b) => holds(c, ...subFlags(a, b))],
  // b<c> over an unconditional orr: the bit is set when the condition fails.
  ['cmp; b<c> +4; orr', (c) => [0xe1500001, ((c << 28) | 0x0a000000) >>> 0, (0xe1822005 | (c << 7)) >>> 0, SVC], (c, a, b) => !holds(c, ...subFlags(a, b))],
];

describe('conditions after CMP / SUBS', () => {
  for (const mode of [{ interpret: false, hotThreshold: 0 }, { interpret: true }]) {
    it(`match NZCV for every condition and edge operands (${mode.interpret ? 'IR interpreter' : 'JS back end'})`, () => {
      const mem = new GuestMemory(0x40000);
      const cpu = new ArmCpu(mem, mode);
      const r = cpu.state.regs;
      PROGRAMS.forEach(([, words], p) => {
        for (let c = 0; c < 14; c++) words(c).forEach((w, i) => mem.st32(0x1000 + (p * 14 + c) * 0x40 + 4 * i, w));
      });
      for (const a of EDGE) for (const b of EDGE) {
        PROGRAMS.forEach(([name, , expected], p) => {
          for (let c = 0; c < 14; c++) {
            r[0] = a; r[1] = b; r[2] = 0; r[5] = 1;
            r[S.PC] = 0x1000 + (p * 14 + c) * 0x40;
            r[S.THUMB] = 0;
            cpu.state.setNzcv(0);
            expect(cpu.run()).toBe(EXIT_EXCEPTION);
            expect({ name, c, a, b, bit: (r[2]! >>> c) & 1 }).toEqual({ name, c, a, b, bit: expected(c, a, b) ? 1 : 0 });
          }
        });
      }
    });
  }
});
