import { GuestMemory, PAGE_SIZE, type IrBlock } from '@tsemu/tcg';
import type { ArmHelpers } from '../helpers.js';
import { translateArm } from './translate.js';

// Why: V8 optimises translateArm (with the decoders it inlines) after ~150-200
// TBs, and the first TB that then takes a path it never ran deoptimises it
// and costs another TurboFan compile of that big function (25-160 ms of
// compile time each, `--trace-opt`): the first encoding a decoder rejects
// (the catch path), the first loop closed just past the 64-instruction limit,
// the first TB running on into the next page, the first Thumb STMIA, VFP, MRC
// or long multiply. Every busybox and kernels run had two or three of them. Translating a
// few synthetic TBs with those paths early gives them type feedback before
// TurboFan compiles the translator. The code lives in a private 3-page
// memory; the IR is only built, never optimised, compiled or run.

/** Thumb: 70 x `adds r0, #1` then `b.n` back to the start (a self-loop just past the limit). */
const LOOP_INSNS = 70;
/** Start of the loop TB: it crosses from page 0 into page 1. */
const LOOP_PC = PAGE_SIZE - 64;
const THUMB_PC = PAGE_SIZE + 0x200;
const ARM_PC = 2 * PAGE_SIZE;

const THUMB_BODY = [
  0xb510, // push {r4, lr}
  0xbf08, 0x4608, // it eq; moveq r0, r1
  0xc105, 0xc905, // stmia r1!, {r0, r2}; ldmia r1!, {r0, r2}
  0xb130, // cbz r0, to the adds after the pop
  0xee1d, 0x0f70, // mrc p15, 0, r0, c13, c0, 3 (TLS)
  0xee31, 0x0b02, // vadd.f64 d0, d1, d2
  0xfba2, 0x0103, // umull r0, r1, r2, r3
  0xbd10, // pop {r4, pc}
  0x3001, // adds r0, #1 (reached only through the cbz: translation resumes here)
  0xfe00, 0x0000, // a coprocessor encoding the decoders reject (the catch path: SIGILL)
];

const ARM_BODY = [
  0xe92d4010, // push {r4, lr}
  0xe2800001, // add r0, r0, #1
  0x03a00002, // moveq r0, #2
  0xee1d0f70, // mrc p15, 0, r0, c13, c0, 3
  0xee310b02, // vadd.f64 d0, d1, d2
  0xe0810392, // umull r0, r1, r2, r3
  0xe8bd8010, // pop {r4, pc}
];

/** Translates the synthetic TBs (Thumb loop across a page, Thumb mix, A32 mix); returns their IR (for tests). */
export function warmUpFrontEnd(h: ArmHelpers): IrBlock[] {
  // Created unmapped (cheaper: the 4 GiB permission table is left untouched), then its 3 pages mapped rwx.
  const mem = new GuestMemory(3 * PAGE_SIZE, { unmapped: true });
  mem.protect(0, 2, 7);
  for (let i = 0; i < LOOP_INSNS; i++) mem.st16(LOOP_PC + 2 * i, 0x3001);
  const bAt = LOOP_PC + 2 * LOOP_INSNS;
  mem.st16(bAt, 0xe000 | (((LOOP_PC - (bAt + 4)) >> 1) & 0x7ff)); // b.n LOOP_PC
  THUMB_BODY.forEach((hw, i) => mem.st16(THUMB_PC + 2 * i, hw));
  ARM_BODY.forEach((w, i) => mem.st32(ARM_PC + 4 * i, w));
  return [
    translateArm(mem, h, LOOP_PC, 1).ir,
    translateArm(mem, h, THUMB_PC, 1).ir,
    translateArm(mem, h, ARM_PC, 0).ir,
  ];
}
