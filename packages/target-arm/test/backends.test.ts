import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GuestMemory } from '@tsemu/tcg';
import { ArmCpu, EXIT_EXCEPTION, S } from '../src/index.js';

// The same ARM code translated once and run four ways: JS back end or IR
// interpreter, optimised or not. Final registers, flags and memory must agree.
const CODE = 0x1000, DATA = 0x8000;

type Mode = { interpret: boolean; optimize: boolean; hotThreshold?: number };
const MODES: Mode[] = [
  { interpret: true, optimize: false }, { interpret: false, optimize: false, hotThreshold: 0 },
  { interpret: true, optimize: true }, { interpret: false, optimize: true, hotThreshold: 0 },
];

function runCode(words: number[], thumb: boolean, init: number[], mode: Mode): number[] {
  const mem = new GuestMemory(0x10000);
  const cpu = new ArmCpu(mem, mode);
  let a = CODE;
  for (const w of words) {
    if (thumb && w >>> 16 === 0) { mem.st16(a, w); a += 2; } else if (thumb) { mem.st16(a, w >>> 16); mem.st16(a + 2, w); a += 4; } else { mem.st32(a, w); a += 4; }
  }
  if (thumb) mem.st16(a, 0xdf00); else mem.st32(a, 0xef000000); // svc 0
  for (let i = 0; i < 0x100; i += 4) mem.st32(DATA + i, i * 0x01010101);
  const r = cpu.state.regs;
  init.forEach((v, i) => { r[i] = v; });
  r[S.SP] = DATA + 0x80;
  r[S.PC] = CODE;
  r[S.THUMB] = thumb ? 1 : 0;
  cpu.state.setNzcv(init[8]! & 0xf0000000);
  expect(cpu.run()).toBe(EXIT_EXCEPTION);
  // The instruction counter must be exact in every mode (forward jumps inside a TB skip instructions).
  return [...r.subarray(0, 16), cpu.state.cpsr(), ...new Int32Array(mem.buffer, DATA, 64), cpu.cache.insnsExecuted];
}

/** Random A32 data-processing / multiply / media words on r0-r7 (no branches, no memory). */
function a32Word(x: number, cond: number): number {
  let w = x & 0x0fffffff;
  const cls = (w >>> 25) & 7;
  if (cls !== 0 && cls !== 1 && cls !== 3) w = (w & ~0x0e000000) | ((x & 1 ? 0 : 1) << 25);
  const c = (w >>> 25) & 7;
  if (c === 3) w |= 0x10; // media space
  if (c === 0) {
    if ((w & 0x90) === 0x90 && (w & 0x60) !== 0) w &= ~0x10; // no extra load/store
    if ((w & 0x01900000) === 0x01000000) w |= 0x00100000; // no misc space (BX, MSR ...)
    if ((w & 0x90) === 0x90 && (w & 0x0f000000) !== 0) w &= ~0x80; // no SWP / LDREX
  }
  w &= ~0x00088888; // r0-r7 in every register field
  return ((cond << 28) | w) >>> 0;
}

describe('ARM translation: JS back end vs IR interpreter, optimised vs not', () => {
  it('agree on random A32 blocks', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 0x7fffffff }), fc.integer({ min: 0, max: 14 })), { minLength: 1, maxLength: 12 }),
      fc.array(fc.integer(), { minLength: 9, maxLength: 9 }),
      (ins, init) => {
        const words = ins.map(([x, c]) => a32Word(x * 2 + (c & 1), c));
        const ref = runCode(words, false, init, MODES[0]!);
        for (const m of MODES.slice(1)) expect(runCode(words, false, init, m)).toEqual(ref);
      }), { seed: 42, numRuns: 150 });
  });

  it('agree on a Thumb-2 sequence with an IT block, loads, stores and a loop', () => {
    // movs r0,#5; movs r1,#0; loop: adds r1,r1,r0; str r1,[sp,#4]!; subs r0,#1; bne loop;
    // cmp r1,#15; ite eq; moveq r2,#1; movne r2,#2; ldr r3,[sp]; mul r4,r3,r1 (32-bit); udiv r5,r4,r0? (r0 = 0 -> 0)
    const words = [0x2005, 0x2100, 0x1809, 0xf84d1f04, 0x3801, 0xd1fa, 0x290f, 0xbf0c, 0x2201, 0x2202, 0x9b00, 0xfb03f401, 0xfbb4f5f0];
    const ref = runCode(words, true, [0, 0, 0, 0, 0, 0, 0, 0, 0], MODES[0]!);
    expect(ref.slice(0, 6)).toEqual([0, 15, 1, 15, 225, 0]);
    // 2 movs, 5 x 4 in the loop, cmp, ite, moveq + movne (a failed condition still counts), ldr, mul, udiv, svc.
    expect(ref[ref.length - 1]).toBe(2 + 5 * 4 + 1 + 1 + 2 + 1 + 1 + 1 + 1);
    for (const m of MODES.slice(1)) expect(runCode(words, true, [0, 0, 0, 0, 0, 0, 0, 0, 0], m)).toEqual(ref);
  });
});
