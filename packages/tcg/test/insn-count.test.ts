import { describe, expect, it } from 'vitest';
import { IrBuilder, GuestMemory, compileBlock, generateSource, interpretBlock, Cond, MemOp, type IrBlock } from '../src/index.js';

// The JS back end plans its guest instruction counts at translation time
// (constants at exits, per-label constants where paths of different lengths
// meet). These TBs mix ARM-like conditional bodies, forward jumps over whole
// instructions, side exits and faulting loads, and the compiled count must
// equal the IR interpreter's on every path.

const NG = 5; // r0..r3 and the pc (slot 4)
const BAD = 0x7fff0000; // past the memory: a load there faults

/** Small deterministic generator (mulberry32), so a failure names its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeTb(seed: number, loop: boolean): IrBlock {
  const r = rng(seed), pick = (n: number): number => Math.floor(r() * n);
  const b = new IrBuilder(Array.from({ length: NG }, (_, i) => ({ name: `r${i}`, slot: i })));
  const g = (i: number): number => b.global(i);
  const n = 6 + pick(8);
  const pending: { label: number; at: number }[] = [];
  for (let i = 0; i < n; i++) {
    for (const p of pending) if (p.at === i) b.setLabel(p.label);
    b.insnStart(0x1000 + 4 * i);
    if (loop && i === 0) {
      // r3 counts iterations down; the loop leaves at 0.
      const cont = b.label();
      b.addi(g(3), g(3), -1);
      b.brcond(g(3), b.c(0), Cond.ne, cont);
      b.exitTb(-9);
      b.setLabel(cont);
      continue;
    }
    const bit = (): number => { const t = b.temp(); b.andi(t, g(pick(3)), 1 << pick(4)); return t; };
    switch (pick(5)) {
      case 0: { // conditional body, skipped inside the same instruction
        const skip = b.label();
        b.brcond(bit(), b.c(0), Cond.eq, skip);
        b.addi(g(pick(3)), g(pick(3)), 1 + pick(9));
        b.setLabel(skip);
        break;
      }
      case 1: { // forward jump over whole instructions
        const to = b.label();
        const at = Math.min(n, i + 1 + pick(3));
        if (pick(2)) b.brcond(bit(), b.c(0), Cond.ne, to); else b.br(to);
        b.addi(g(0), g(0), 3);
        pending.push({ label: to, at });
        break;
      }
      case 2: { // side exit
        const cont = b.label();
        b.brcond(bit(), b.c(0), Cond.eq, cont);
        b.movi(g(4), 0x2000 + i);
        b.exitTb(-3);
        b.setLabel(cont);
        break;
      }
      case 3: { // a load that faults when a bit is set (the address is chosen after a label inside the instruction)
        const ok = b.label(), a = b.temp(), t = b.temp();
        b.movi(a, 0x1000);
        b.brcond(bit(), b.c(0), Cond.eq, ok);
        b.movi(a, BAD);
        b.setLabel(ok);
        b.ld(t, a, MemOp.u32);
        b.add(g(1), g(1), t);
        break;
      }
      default: b.xor(g(pick(3)), g(pick(3)), b.c(0x55 << pick(8)));
    }
  }
  for (const p of pending) if (p.at === n) b.setLabel(p.label);
  b.movi(g(4), 0x1000);
  if (loop) { b.loopSlot = 0; b.gotoTb(0); } else b.exitTb(-5);
  return b.finish();
}

function run(ir: IrBlock, init: Int32Array, how: 'interp' | 'js'): { regs: number[]; ret: number; count: number; faultPc: number } {
  const mem = new GuestMemory(0x3000);
  const regs = init.slice(), insnCounter = new Float64Array(1);
  const env = { regs, mem, insnCounter };
  let ret: number;
  if (how === 'js') ret = compileBlock(ir, env)();
  else do ret = interpretBlock(ir, env); while (ret === ir.loopSlot); // the compiled self-loop runs every iteration itself
  return { regs: [...regs], ret, count: insnCounter[0]!, faultPc: mem.faultPc };
}

describe('JS back end instruction counts', () => {
  for (const loop of [false, true]) {
    it(`equal the IR interpreter's on seeded random ${loop ? 'self-loop ' : ''}TBs`, () => {
      const seed = 0x5eed + (loop ? 1 : 0);
      console.log(`insn-count seed ${seed} (loop ${loop})`);
      const r = rng(seed);
      let dynamicLabels = 0;
      for (let k = 0; k < 150; k++) {
        const ir = makeTb(Math.floor(r() * 2 ** 31), loop);
        if (/\bb0=-?[1-9]/.test(generateSource(ir))) dynamicLabels++;
        for (let j = 0; j < 6; j++) {
          const init = Int32Array.from({ length: NG }, () => Math.floor(r() * 2 ** 32) | 0);
          if (loop) init[3] = 1 + Math.floor(r() * 5);
          expect(run(ir, init, 'js'), `TB ${k} input ${j}`).toEqual(run(ir, init, 'interp'));
        }
      }
      expect(dynamicLabels).toBeGreaterThan(10); // the count corrections were exercised
    });
  }

  it('with counting off (countInsns false), leaves the counter out and computes the same', () => {
    const seed = 0x5eed + 7;
    console.log(`insn-count seed ${seed} (no counting)`);
    const r = rng(seed);
    for (let k = 0; k < 60; k++) {
      const loop = k % 2 === 1;
      const ir = makeTb(Math.floor(r() * 2 ** 31), loop);
      const src = generateSource(ir, false, false, undefined, false);
      expect(src, `TB ${k}`).not.toMatch(/CTR|\bic\b|\bn=|\bb\d+=/);
      for (let j = 0; j < 4; j++) {
        const init = Int32Array.from({ length: NG }, () => Math.floor(r() * 2 ** 32) | 0);
        if (loop) init[3] = 1 + Math.floor(r() * 5);
        const mem = new GuestMemory(0x3000);
        const regs = init.slice(), insnCounter = new Float64Array(1);
        const ret = compileBlock(ir, { regs, mem, insnCounter, countInsns: false })();
        const want = run(ir, init, 'interp');
        expect({ regs: [...regs], ret, faultPc: mem.faultPc }, `TB ${k} input ${j}`).toEqual({ regs: want.regs, ret: want.ret, faultPc: want.faultPc });
        expect(insnCounter[0]).toBe(0);
      }
    }
  });

  it('puts no counting arithmetic on the taken side of a branch', () => {
    const b = new IrBuilder([{ name: 'r0', slot: 0 }, { name: 'pc', slot: 1 }]);
    const skip = b.label(), over = b.label();
    b.insnStart(0x1000);
    b.brcond(b.global(0), b.c(0), Cond.eq, skip); // conditional body
    b.addi(b.global(0), b.global(0), 1);
    b.setLabel(skip);
    b.insnStart(0x1004);
    b.brcond(b.global(0), b.c(5), Cond.ne, over); // a jump over the next instruction
    b.insnStart(0x1008);
    b.addi(b.global(0), b.global(0), 2);
    b.setLabel(over);
    b.insnStart(0x100c);
    b.exitTb(-5);
    const src = generateSource(b.finish());
    expect(src).not.toMatch(/ic\+=/);
    expect(src).toMatch(/\{b0=-1;break L1;\}/); // a constant store (one instruction skipped): no type feedback needed
  });

  // glibc's memcpy for ARM: a binary search on the length jumps into an
  // unrolled copy, one entry label per copy instruction, each also reached by
  // the copy before it falling through.
  function computedJump(entries: number, loop: boolean): IrBlock {
    const b = new IrBuilder(Array.from({ length: NG }, (_, i) => ({ name: `r${i}`, slot: i })));
    const g = (i: number): number => b.global(i);
    const at = Array.from({ length: entries }, () => b.label());
    const done = b.label();
    b.insnStart(0x1000);
    if (loop) {
      const cont = b.label();
      b.addi(g(3), g(3), -1);
      b.brcond(g(3), b.c(0), Cond.ne, cont);
      b.exitTb(-9);
      b.setLabel(cont);
    }
    // Entry index in r0 (0..entries-1), then a search tree of compares, one instruction each.
    const search = (lo: number, hi: number): void => {
      if (hi - lo === 1) { b.br(at[lo]!); return; }
      const mid = (lo + hi) >> 1, upper = b.label();
      b.insnStart(0x1100 + 4 * mid);
      b.brcond(g(0), b.c(mid), Cond.ge, upper);
      search(lo, mid);
      b.setLabel(upper);
      search(mid, hi);
    };
    search(0, entries);
    for (let k = 0; k < entries; k++) {
      b.setLabel(at[k]!);
      b.insnStart(0x2000 + 4 * k);
      b.addi(g(1), g(1), k + 1);
    }
    b.setLabel(done);
    b.insnStart(0x3000);
    b.movi(g(4), 0x1000);
    if (loop) { b.loopSlot = 0; b.gotoTb(0); } else b.exitTb(-5);
    return b.finish();
  }

  for (const loop of [false, true]) {
    it(`uses one count variable for a computed jump into 39 entries${loop ? ' in a self-loop' : ''}`, () => {
      const ir = computedJump(39, loop);
      const src = generateSource(ir);
      expect(src).toMatch(/\bb0=0[,;]/);
      expect(src).not.toMatch(/\bb1=/); // one per entry label before
      for (let e = 0; e < 39; e++) {
        const init = Int32Array.from([e, 0, 0, loop ? 3 : 0, 0]);
        const js = run(ir, init, 'js');
        expect(js, `entry ${e}`).toEqual(run(ir, init, 'interp'));
        expect(js.regs[1], `entry ${e}`).toBe((loop ? 2 : 1) * ((39 * 40) / 2 - (e * (e + 1)) / 2));
      }
    });
  }
});
