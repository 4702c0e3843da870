// Generator of seeded random ARM / Thumb-2 instruction blocks for the
// differential test: each block loads random values into r0-r7 and the APSR,
// runs a few random instructions, and stores r0-r7 and the APSR (the FPSCR for
// VFP blocks, see random-insns-vfp.ts).

import { fpWord, randomFpscr, randomVfpInsn } from './random-insns-vfp.js';

export type Mode = 'arm' | 'thumb';

export { randomVfpInsn };

export class Rng {
  constructor(private s: number) { if (!s) this.s = 1; }
  next(): number { let x = this.s; x ^= x << 13; x ^= x >>> 17; x ^= x << 5; this.s = x >>> 0; return this.s; }
  int(n: number): number { return this.next() % n; }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]!; }
  chance(p: number): boolean { return this.next() / 0x100000000 < p; }
}

const CONDS = ['eq', 'ne', 'cs', 'cc', 'mi', 'pl', 'vs', 'vc', 'hi', 'ls', 'ge', 'lt', 'gt', 'le'];
const IMMS = [0, 1, 2, 7, 31, 32, 100, 127, 128, 200, 255, 0xff00, 0xff0000, 0xff000000, 0x3f00, 0x80000000];
const INTERESTING = [0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 0x8000, 0x7fff, 0xffff, 0x80, 0xff, 0x10000];

/** One random instruction (possibly several lines with an IT prefix). */
export function randomInsn(rng: Rng, mode: Mode): string {
  const r = (): string => `r${rng.int(8)}`;
  const rd = r, rn = r, rm = r;
  const sh = (): string => {
    const t = rng.pick(['lsl', 'lsr', 'asr', 'ror', 'rrx', '']);
    if (t === '') return '';
    if (t === 'rrx') return ', rrx';
    if (mode === 'arm' && rng.chance(0.3)) return `, ${t} ${r()}`;
    const n = t === 'lsl' || t === 'ror' ? 1 + rng.int(31) : 1 + rng.int(32);
    return `, ${t} #${n}`;
  };
  const s = (): string => (rng.chance(0.5) ? 's' : '');
  const kinds = 12;
  const k = rng.int(kinds);
  let cond = '';
  if (rng.chance(0.25)) cond = rng.pick(CONDS);
  let text: string;
  switch (k) {
    case 0: case 1: {
      const ops = ['and', 'eor', 'sub', 'rsb', 'add', 'adc', 'sbc', 'orr', 'bic', ...(mode === 'arm' ? ['rsc'] : ['orn'])];
      const op = rng.pick(ops);
      if (rng.chance(0.4)) text = `${op}${s()}${cond} ${rd()}, ${rn()}, #${rng.pick(IMMS)}`;
      else text = `${op}${s()}${cond} ${rd()}, ${rn()}, ${rm()}${op === 'rsb' && mode === 'thumb' ? sh().replace(/, \w+ r\d/, '') : sh()}`;
      break;
    }
    case 2: {
      const op = rng.pick(['mov', 'mvn']);
      text = rng.chance(0.3) ? `${op}${s()}${cond} ${rd()}, #${rng.pick(IMMS)}` : `${op}${s()}${cond} ${rd()}, ${rm()}${sh()}`;
      break;
    }
    case 3: {
      const op = rng.pick(['lsl', 'lsr', 'asr', 'ror']);
      text = `${op}${s()}${cond} ${rd()}, ${rn()}, ${rm()}`;
      break;
    }
    case 4: {
      const op = rng.pick(['cmp', 'cmn', 'tst', 'teq']);
      text = rng.chance(0.4) ? `${op}${cond} ${rn()}, #${rng.pick(IMMS)}` : `${op}${cond} ${rn()}, ${rm()}${sh()}`;
      break;
    }
    case 5: {
      const a = rng.int(8);
      let b = rng.int(8);
      if (b === a) b = (a + 1) & 7;
      const op = rng.pick(['mul', 'mla', 'mls', 'umull', 'smull', 'umlal', 'smlal', 'umaal', 'smmul', 'smmulr', 'smmla', 'smmls', 'sdiv', 'udiv']);
      if (op === 'mul') text = `mul${mode === 'arm' ? s() : ''}${cond} ${rd()}, ${rn()}, ${rm()}`;
      else if (op.endsWith('ll') || op.endsWith('al')) text = `${op}${op === 'umaal' || mode === 'thumb' ? '' : s()}${cond} r${a}, r${b}, ${rn()}, ${rm()}`;
      else if (op === 'mla' || op === 'mls' || op === 'smmla' || op === 'smmls') text = `${op}${cond} ${rd()}, ${rn()}, ${rm()}, ${r()}`;
      else text = `${op}${cond} ${rd()}, ${rn()}, ${rm()}`;
      break;
    }
    case 6: {
      const op = rng.pick(['smulbb', 'smultb', 'smulbt', 'smultt', 'smulwb', 'smulwt', 'smlabb', 'smlatt', 'smlawb', 'smuad', 'smusdx', 'smlad', 'smlsd']);
      text = op.startsWith('smla') || op === 'smlad' || op === 'smlsd' ? `${op}${cond} ${rd()}, ${rn()}, ${rm()}, ${r()}` : `${op}${cond} ${rd()}, ${rn()}, ${rm()}`;
      break;
    }
    case 7: {
      const op = rng.pick(['clz', 'rbit', 'rev', 'rev16', 'revsh', 'uxtb', 'uxth', 'sxtb', 'sxth', 'uxtb16', 'sxtb16']);
      const rot = op.includes('xt') && rng.chance(0.5) ? `, ror #${rng.pick([8, 16, 24])}` : '';
      text = `${op}${cond} ${rd()}, ${rm()}${rot}`;
      break;
    }
    case 8: {
      const op = rng.pick(['uxtab', 'uxtah', 'sxtab', 'sxtah', 'uxtab16', 'pkhbt', 'pkhtb']);
      if (op.startsWith('pkh')) text = `${op}${cond} ${rd()}, ${rn()}, ${rm()}, ${op === 'pkhbt' ? 'lsl' : 'asr'} #${1 + rng.int(31)}`;
      else text = `${op}${cond} ${rd()}, ${rn()}, ${rm()}`;
      break;
    }
    case 9: {
      const lsb = rng.int(32), width = 1 + rng.int(32 - lsb);
      const op = rng.pick(['ubfx', 'sbfx', 'bfi', 'bfc']);
      text = op === 'bfc' ? `bfc${cond} ${rd()}, #${lsb}, #${width}` : `${op}${cond} ${rd()}, ${rn()}, #${lsb}, #${width}`;
      break;
    }
    case 10: {
      const op = rng.pick(['ssat', 'usat', 'qadd', 'qsub', 'qdadd', 'qdsub', 'ssat16', 'usat16']);
      if (op === 'ssat') text = `ssat${cond} ${rd()}, #${1 + rng.int(32)}, ${rn()}${rng.chance(0.5) ? `, lsl #${rng.int(32)}` : ''}`;
      else if (op === 'usat') text = `usat${cond} ${rd()}, #${rng.int(32)}, ${rn()}${rng.chance(0.5) ? `, asr #${1 + rng.int(31)}` : ''}`;
      else if (op === 'ssat16') text = `ssat16${cond} ${rd()}, #${1 + rng.int(16)}, ${rn()}`;
      else if (op === 'usat16') text = `usat16${cond} ${rd()}, #${rng.int(16)}, ${rn()}`;
      else text = `${op}${cond} ${rd()}, ${rn()}, ${rm()}`;
      break;
    }
    default: {
      const pre = rng.pick(['s', 'u', 'q', 'uq', 'sh', 'uh']);
      const op = rng.pick(['add8', 'sub8', 'add16', 'sub16', 'asx', 'sax']);
      text = rng.chance(0.15) ? `sel${cond} ${rd()}, ${rn()}, ${rm()}` : rng.chance(0.1) ? `usad8${cond} ${rd()}, ${rn()}, ${rm()}` : `${pre}${op}${cond} ${rd()}, ${rn()}, ${rm()}`;
    }
  }
  if (mode === 'thumb' && cond) return `it ${cond}\n  ${text}`;
  return text;
}

/** One random load/store on the scratch area r9 points into (offsets keep it in range). */
export function randomMemInsn(rng: Rng, mode: Mode): string {
  const r = (): string => `r${rng.int(8)}`;
  const k = rng.int(7);
  const wb = (imm: number): string => {
    const f = rng.int(3);
    return f === 0 ? `[r9, #${imm}]` : f === 1 ? `[r9, #${imm}]!` : `[r9], #${imm}`;
  };
  switch (k) {
    case 0: case 1: {
      const op = rng.pick(['ldr', 'str', 'ldrb', 'strb', 'ldrh', 'strh', 'ldrsb', 'ldrsh']);
      // Writeback keeps r9 word-aligned (LDRD/LDM need it); unaligned offsets come without writeback.
      const imm = rng.int(129) - 64;
      return rng.chance(0.5) ? `${op} ${r()}, [r9, #${imm & (op.endsWith('h') ? ~1 : op.endsWith('b') ? ~0 : ~3)}]` : `${op} ${r()}, ${wb(imm & ~3)}`;
    }
    case 2: {
      // Unaligned word and halfword accesses (allowed for LDR/STR/LDRH/STRH on ARMv7 Linux).
      const op = rng.pick(['ldr', 'str', 'ldrh', 'strh']);
      return `${op} ${r()}, [r9, #${rng.int(61) - 30}]`;
    }
    case 3: {
      const a = rng.int(4) * 2;
      const op = rng.pick(['ldrd', 'strd']);
      const imm = (rng.int(33) - 16) * 4;
      return mode === 'arm' ? `${op} r${a}, r${a + 1}, [r9, #${imm}]` : `${op} r${a}, r${a + 1}, ${wb(imm)}`;
    }
    case 4: {
      let list = rng.next() & 0xff;
      if (!list) list = 1;
      const regs = Array.from({ length: 8 }, (_, i) => i).filter((i) => list & (1 << i)).map((i) => `r${i}`).join(', ');
      const op = rng.pick(mode === 'arm' ? ['ldmia', 'stmia', 'ldmdb', 'stmdb', 'ldmib', 'stmda'] : ['ldmia', 'stmia', 'ldmdb', 'stmdb']);
      return `${op} r9${rng.chance(0.5) ? '!' : ''}, {${regs}}`;
    }
    case 5: {
      const a = rng.int(8);
      let b = rng.int(8);
      if (b === a) b = (a + 1) & 7;
      const t = (b + 1 + rng.int(7)) & 7; // STREX needs rd != rt
      return rng.chance(0.5) ? `ldrex r${a}, [r9]\n  strex r${b}, r${t}, [r9]` : `ldrexb r${a}, [r9]\n  strexb r${b}, r${t}, [r9]`;
    }
    default: {
      const a = rng.int(4), b = 4 + rng.int(4);
      return `push {r${a}, r${b}}\n  pop {r${b}, r${a}}`;
    }
  }
}

/** Assembly source with `blocks` test blocks and a `run_tests(uint32_t *out)` entry. */
/** `fpShare`: the fraction of blocks that are VFP blocks. */
export function generateAsm(seed: number, mode: Mode, blocks: number, perBlock: number, fpShare = 0.3): { asm: string; blockText: string[] } {
  const rng = new Rng(seed);
  const lines = ['.syntax unified', '.arch armv7-a', '.arch_extension idiv', '.fpu vfpv4-d16', mode === 'thumb' ? '.thumb' : '.arm',
    '.text', '.global run_tests', '.type run_tests, %function', mode === 'thumb' ? '.thumb_func' : '', 'run_tests:',
    '  push {r4-r11, lr}', '  mov r11, r0'];
  const blockText: string[] = [];
  const val = (): number => (rng.chance(0.3) ? rng.pick(INTERESTING) : rng.next()) >>> 0;
  for (let b = 0; b < blocks; b++) {
    const fp = rng.chance(fpShare), memBlock = !fp && rng.chance(0.3);
    for (let i = 0; i < 8; i++) {
      const v = fp ? fpWord(rng, i) : val();
      lines.push(`  movw r${i}, #${v & 0xffff}`, `  movt r${i}, #${v >>> 16}`);
    }
    if (fp) {
      // VFP block: d0-d3 from r0-r7, random FPSCR controls, a few VFP instructions,
      // results back in r0-r7 and the whole FPSCR (NZCV, controls, cumulative flags) in r8.
      const fpscr = randomFpscr(rng);
      lines.push('  vmov d0, r0, r1', '  vmov d1, r2, r3', '  vmov d2, r4, r5', '  vmov d3, r6, r7',
        `  movw r8, #${fpscr & 0xffff}`, `  movt r8, #${fpscr >>> 16}`, '  vmsr fpscr, r8');
      const body: string[] = [];
      for (let i = 0; i < perBlock; i++) body.push(rng.chance(0.15) ? 'vmrs APSR_nzcv, fpscr' : randomVfpInsn(rng, mode));
      blockText.push(body.join('\n'));
      lines.push(...body.map((l) => `  ${l}`));
      lines.push('  vmov r0, r1, d0', '  vmov r2, r3, d1', '  vmov r4, r5, d2', '  vmov r6, r7, d3', '  vmrs r8, fpscr',
        '  stmia r11!, {r0-r8}');
      continue;
    }
    const flags = (rng.next() & 0xf80f0000) >>> 0;
    lines.push(`  movw r8, #0`, `  movt r8, #${flags >>> 16}`, '  msr APSR_nzcvqg, r8');
    if (memBlock) lines.push('  movw r9, #:lower16:scratch+512', '  movt r9, #:upper16:scratch+512');
    const body: string[] = [];
    for (let i = 0; i < perBlock; i++) {
      const insn = memBlock && rng.chance(0.6) ? randomMemInsn(rng, mode) : randomInsn(rng, mode);
      // Sometimes skip it with a forward branch: conditional B, or CBZ/CBNZ in Thumb.
      if (rng.chance(0.15)) {
        const br = mode === 'thumb' && rng.chance(0.4) ? `${rng.pick(['cbz', 'cbnz'])} r${rng.int(8)}, 1f` : `b${rng.pick(CONDS)} 1f`;
        body.push(`${br}\n  ${insn}\n1:`);
      } else body.push(insn);
    }
    blockText.push(body.join('\n'));
    lines.push(...body.map((l) => `  ${l}`));
    lines.push('  mrs r8, APSR', '  stmia r11!, {r0-r8}');
  }
  lines.push('  movw r8, #0', '  vmsr fpscr, r8', '  pop {r4-r11, pc}', '.data', '.global scratch', '.balign 8', 'scratch:');
  for (let i = 0; i < 1024; i += 4) lines.push(`  .word ${((i * 2654435761) ^ 0x5a5aa5a5) >>> 0}`);
  lines.push('');
  return { asm: lines.join('\n'), blockText };
}

export const HARNESS_C = `#include <stdio.h>
#include <stdint.h>
extern void run_tests(uint32_t *out);
extern uint32_t scratch[256];
static uint32_t out[BLOCKS * 9];
int main(void) {
  run_tests(out);
  for (int b = 0; b < BLOCKS; b++) {
    printf("%d:", b);
    for (int i = 0; i < 9; i++) printf(" %08x", out[b * 9 + i]);
    printf("\\n");
  }
  for (int i = 0; i < 256; i += 8) {
    printf("mem %03x:", i * 4);
    for (int k = 0; k < 8; k++) printf(" %08x", scratch[i + k]);
    printf("\\n");
  }
  return 0;
}
`;
