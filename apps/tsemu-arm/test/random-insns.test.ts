import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireTool, run, runQemu, runTsemu, tempDir } from './harness.js';
import { generateAsm, HARNESS_C, type Mode } from './random-insns.js';

// Seeded random data-processing, multiply, saturating, parallel and bitfield
// instructions (with conditional and flag-setting forms; IT blocks in Thumb),
// run under qemu-arm-static and tsemu-arm: registers and APSR must agree.
// The 'vfp' runs are all VFP blocks (random FPSCR rounding mode / FZ / DN,
// special operands), compared with the whole FPSCR incl. cumulative flags.
// Each block runs once, so by default it stays in the IR interpreter tier;
// the second tsemu run (-jit) compiles every TB to JavaScript first, so the
// JS back end is compared with qemu-arm too.
const BLOCKS = 150, PER_BLOCK = 6;
// More seeds for a longer hunt: TSEMU_RANDOM_SEEDS=1,2,3,...
const SEEDS = process.env.TSEMU_RANDOM_SEEDS ? process.env.TSEMU_RANDOM_SEEDS.split(',').map(Number) : [0x5eed0001, 0x5eed0002];

describe('random instruction sequences: tsemu-arm vs qemu-arm', () => {
  let dir = '';
  beforeAll(() => {
    requireTool('arm-linux-gnueabihf-gcc');
    requireTool('qemu-arm-static');
    dir = tempDir();
  });

  const runs: [string, Mode, number, number][] = [];
  for (const mode of ['arm', 'thumb'] as Mode[]) {
    for (const seed of SEEDS) runs.push(['', mode, seed, 0.3]);
    for (const seed of SEEDS) runs.push(['vfp ', mode, seed ^ 0xf00d, 1]);
  }
  for (const [kind, mode, seed, fpShare] of runs) {
    it(`${kind}${mode} seed ${seed.toString(16)}`, () => {
      const { asm, blockText } = generateAsm(seed, mode, BLOCKS, PER_BLOCK, fpShare);
      const base = join(dir, `rand-${kind.trim() || 'mix'}-${mode}-${seed.toString(16)}`);
      writeFileSync(`${base}.s`, asm);
      writeFileSync(`${base}.c`, HARNESS_C.replace(/BLOCKS/g, String(BLOCKS)));
      const cc = run('arm-linux-gnueabihf-gcc', ['-static', '-O1', `-m${mode}`, `${base}.c`, `${base}.s`, '-o', base]);
      if (cc.status !== 0) throw new Error(`assembling the generated code failed:\n${cc.stderr}`);
      const q = runQemu([base]);
      expect(q.status).toBe(0);
      const ql = q.stdout.split('\n');
      for (const tier of ['', '-jit']) {
        const t = runTsemu(tier ? [tier, base] : [base]);
        const tl = t.stdout.split('\n');
        for (let i = 0; i < ql.length; i++) {
          if (ql[i] !== tl[i]) {
            const where = `${kind}${mode} seed 0x${seed.toString(16)}${tier ? ` ${tier}` : ''} (${base}.s)`;
            if (ql[i]!.startsWith('mem')) throw new Error(`${where}: scratch memory differs\nqemu:  ${ql[i]}\ntsemu: ${tl[i]}`);
            const b = Number(ql[i]!.split(':')[0]);
            throw new Error(`${where}: block ${b} differs\nqemu:  ${ql[i]}\ntsemu: ${tl[i]}\ninstructions:\n${blockText[b]}\n(regs r0-r7, APSR or FPSCR)`);
          }
        }
        expect(t.status).toBe(0);
      }
    });
  }
});
