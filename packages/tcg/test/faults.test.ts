import { describe, expect, it } from 'vitest';
import {
  compileBlock, EXIT_FAULT, generateSource, FAULT_ALIGN, FAULT_EXEC, FAULT_READ, FAULT_WRITE, GuestMemory, interpretBlock, IrBuilder, MemOp,
  optimizeBlock, PERM_CODE, PERM_MAPPED, PERM_R, PERM_W, TbCache, type FrontEnd, type IrBlock,
} from '../src/index.js';

// Guest memory protection: a load or store to a page without permission
// leaves the TB with EXIT_FAULT at the faulting instruction, registers as
// they were before it (earlier instructions' writes done, its own not), and
// the compiled code and the interpreter agree.
const G = [{ name: 'r0', slot: 0 }, { name: 'r1', slot: 1 }, { name: 'r2', slot: 2 }];

function setup(): GuestMemory {
  const mem = new GuestMemory(0x10000);
  mem.protect(0, 15, 0, false); // nothing mapped
  mem.protect(1, 1, 3); // 0x1000: read+write
  mem.protect(2, 2, 1); // 0x2000: read only
  mem.protect(3, 3, 0); // 0x3000: PROT_NONE (mapped)
  return mem;
}

/** insn 0x100: r0 = r0 + 1; insn 0x104: r1 = [r2] (or [r2] = r0); insn 0x108: r0 = 99. */
function block(store: boolean, memop: number = MemOp.u32): IrBlock {
  const b = new IrBuilder(G);
  b.insnStart(0x100);
  b.add(b.global(0), b.global(0), b.c(1));
  b.insnStart(0x104);
  if (store) b.st(b.global(0), b.global(2), memop);
  else { const t = b.temp(); b.ld(t, b.global(2), memop); b.mov(b.global(1), t); }
  b.insnStart(0x108);
  b.movi(b.global(0), 99);
  b.exitTb(-1);
  return b.finish();
}

type Run = (ir: IrBlock, env: { regs: Int32Array; mem: GuestMemory }) => number;
const runners: [string, Run][] = [
  ['compiled', (ir, env) => compileBlock(optimizeBlock(ir), env)()],
  ['interpreted', (ir, env) => interpretBlock(ir, env)],
];

describe.each(runners)('memory faults (%s)', (_name, run) => {
  const cases: [string, boolean, number, number, number, boolean][] = [
    // what, store, address, memop, fault kind, mapped
    ['load from an unmapped page', false, 0x8000, MemOp.u32, FAULT_READ, false],
    ['load from PROT_NONE', false, 0x3004, MemOp.u32, FAULT_READ, true],
    ['byte store to a read-only page', true, 0x2001, MemOp.u8, FAULT_WRITE, true],
    ['store to an unmapped page', true, 0x9000, MemOp.u32, FAULT_WRITE, false],
    ['unaligned load crossing into PROT_NONE', false, 0x2ffe, MemOp.u32, FAULT_READ, true],
    ['unaligned word with the align flag', false, 0x1002, MemOp.u32 | MemOp.align, FAULT_ALIGN, true],
    ['LDREXD-style 8-byte alignment', false, 0x1004, MemOp.u32 | MemOp.align8, FAULT_ALIGN, true],
  ];
  for (const [what, store, addr, memop, kind, mapped] of cases) {
    it(what, () => {
      const mem = setup();
      const regs = Int32Array.from([10, 7, addr]);
      expect(run(block(store, memop), { regs, mem })).toBe(EXIT_FAULT);
      expect([mem.fk, mem.faultPc, mem.faultMapped]).toEqual([kind, 0x104, mapped]);
      expect(mem.faultAddr).toBe(what.includes('crossing') ? 0x3000 : addr);
      expect(Array.from(regs)).toEqual([11, 7, addr]); // first insn done, the faulting one not
    });
  }

  /** 0x100: r1 = r0 + 5; 0x104: r0 = [r2]; with `twice`, 0x108: r1 = 1. */
  const writeOnlyR1 = (twice: boolean) => {
    const b = new IrBuilder(G);
    b.insnStart(0x100);
    b.add(b.global(1), b.global(0), b.c(5));
    b.insnStart(0x104);
    b.ld(b.global(0), b.global(2), MemOp.u32);
    if (twice) {
      b.insnStart(0x108);
      b.movi(b.global(1), 1);
    }
    b.exitTb(-1);
    return b;
  };

  it('registers the TB only writes (stored straight into the state) keep the writes of completed instructions', () => {
    // r1 is written once and never read, so compiled code writes it through.
    const b = writeOnlyR1(false);
    const mem = setup();
    mem.st32(0x1000, 42);
    const ok = Int32Array.from([10, 0, 0x1000]);
    expect(run(b.finish(), { regs: ok, mem })).toBe(-1);
    expect(Array.from(ok)).toEqual([42, 15, 0x1000]);
    const bad = Int32Array.from([10, 0, 0x3000]);
    expect(run(b.finish(), { regs: bad, mem })).toBe(EXIT_FAULT);
    expect(mem.faultPc).toBe(0x104);
    expect(Array.from(bad)).toEqual([10, 15, 0x3000]); // r1 from 0x100 kept, r0 untouched
    const src = generateSource(optimizeBlock(b.finish()));
    expect(src).toMatch(/R\[1\]=\(g0\+5\)\|0;/); // the write-through this test is about
    expect(src).not.toMatch(/g1=R\[1\]/);
  });

  it('a register written twice stays in a local (one store at the exit, not one per write)', () => {
    const b = writeOnlyR1(true);
    const mem = setup();
    const bad = Int32Array.from([10, 0, 0x3000]);
    expect(run(b.finish(), { regs: bad, mem })).toBe(EXIT_FAULT);
    expect(Array.from(bad)).toEqual([10, 15, 0x3000]);
    const src = generateSource(optimizeBlock(b.finish()));
    expect(src).not.toMatch(/R\[1\]=\(g0\+5\)/);
  });

  it('allowed accesses do not fault; unaligned ones without the flag are fine', () => {
    const mem = setup();
    mem.st32(0x2ffd, 0x11223344); // a read-only page: the checked slow path refuses
    expect(mem.fk).toBe(FAULT_WRITE);
    mem.clearFault();
    mem.u8.set([0x44, 0x33, 0x22, 0x11], 0x2001);
    const regs = Int32Array.from([0, 0, 0x2001]);
    expect(run(block(false), { regs, mem })).toBe(-1);
    expect(Array.from(regs)).toEqual([99, 0x11223344, 0x2001]);
    const r2 = Int32Array.from([5, 0, 0x1ff1]);
    expect(run(block(true), { regs: r2, mem })).toBe(-1);
    expect(mem.fk).toBe(0);
    expect(mem.ld32(0x1ff1)).toBe(6);
  });
});

describe('instruction fetch', () => {
  it('a TB on a page without PROT_EXEC faults, and runs once the page is executable', () => {
    const mem = setup();
    const regs = new Int32Array(16);
    regs[15] = 0x1000;
    let translated = 0;
    const fe: FrontEnd = {
      pc: () => regs[15]!, flags: () => 0,
      translate(pc) {
        translated++;
        const b = new IrBuilder([{ name: 'r0', slot: 0 }]);
        b.insnStart(pc);
        b.movi(b.global(0), 42);
        b.exitTb(-9);
        return { ir: b.finish(), end: pc + 4 };
      },
    };
    const cache = new TbCache({ regs, mem }, fe, { hotThreshold: 0 });
    expect(cache.run()).toBe(EXIT_FAULT);
    expect([mem.fk, mem.faultAddr, mem.faultPc, translated]).toEqual([FAULT_EXEC, 0x1000, 0x1000, 0]);
    mem.clearFault();
    mem.protect(1, 1, 5);
    expect(cache.run()).toBe(-9);
    expect([regs[0], translated]).toEqual([42, 1]);
  });
});

describe('GuestMemory.protect', () => {
  it('keeps translated-code pages on the store slow path across protection changes', () => {
    const mem = new GuestMemory(0x10000);
    mem.protect(0, (1 << 20) - 1, 0, false); // the whole 4 GiB space unmapped, as linux-user starts
    expect([mem.perm[0], mem.noRead[0], mem.noWrite[0], mem.noRead[(1 << 20) - 1]]).toEqual([0, 1, 1, 1]);
    mem.protect(0, 15, 7);
    mem.setCode(2, true);
    mem.setCode(5, true);
    mem.setCode(5, false);
    mem.protect(0, 15, 3); // mprotect over the code page
    expect(mem.perm[2]! & PERM_CODE).toBe(PERM_CODE);
    expect([mem.noWrite[1], mem.noWrite[2], mem.noWrite[5], mem.noRead[2]]).toEqual([0, 1, 0, 0]);
    expect(mem.perm[1]).toBe(PERM_R | PERM_W | PERM_MAPPED);
    mem.protect(2, 2, 1); // read-only code page: loads fast, stores slow
    expect([mem.noRead[2], mem.noWrite[2], mem.perm[2]]).toEqual([0, 1, PERM_R | PERM_MAPPED | PERM_CODE]);
    mem.setCode(2, false);
    mem.protect(0, 15, 3);
    expect([mem.noWrite[2], mem.perm[2]]).toEqual([0, PERM_R | PERM_W | PERM_MAPPED]);
    mem.protect(3, 2, 3); // an empty range changes nothing
    expect(mem.perm[3]).toBe(PERM_R | PERM_W | PERM_MAPPED);
  });

  it('a memory created unmapped is in the state of one whose whole space was unmapped', () => {
    const made = new GuestMemory(0x10000, { unmapped: true });
    const cleared = new GuestMemory(0x10000);
    cleared.protect(0, (1 << 20) - 1, 0, false);
    expect(made.nothingMapped).toBe(true);
    expect(cleared.nothingMapped).toBe(false);
    for (const t of ['perm', 'noRead', 'noWrite', 'codePages'] as const) expect(Buffer.compare(made[t], cleared[t]), t).toBe(0);
    // Every access takes the slow path and faults as on an unmapped page.
    expect(made.ld32(0x1000)).toBe(0);
    expect([made.fk, made.faultAddr, made.faultMapped]).toEqual([FAULT_READ, 0x1000, false]);
    made.clearFault();
    made.st8(0x2000, 1);
    expect([made.fk, made.u8[0x2000]]).toEqual([FAULT_WRITE, 0]);
    made.clearFault();
    made.protect(1, 1, 3);
    expect(made.nothingMapped).toBe(false);
    made.st32(0x1000, 0x12345678);
    expect([made.fk, made.ld32(0x1000), made.noRead[1], made.noWrite[1]]).toEqual([0, 0x12345678, 0, 0]);
  });
});


describe('a TB looping on itself, left for an interrupt', () => {
  it('has written every register its completed iterations wrote, even ones the loop overwrites before reading', async () => {
    // loop: r1 = r0; r0 = r0 + 1; goto loop. r1 is dead at the loop head (written
    // before read), but a signal delivered when the loop leaves for the interrupt
    // word must see r1 = r0 - 1 like the real CPU would. Nothing in the loop
    // touches memory, so only another thread can set the word: a worker does.
    const { Worker } = await import('node:worker_threads');
    const b = new IrBuilder(G);
    b.insnStart(0x100);
    b.mov(b.global(1), b.global(0));
    b.insnStart(0x104);
    b.add(b.global(0), b.global(0), b.c(1));
    b.insnStart(0x108);
    b.loopSlot = 0;
    b.gotoTb(0);
    const ir = optimizeBlock(b.finish());
    const interrupt = new Int32Array(new SharedArrayBuffer(4));
    const env = { regs: new Int32Array(3), mem: setup(), interrupt };
    const worker = new Worker('const { workerData } = require("node:worker_threads"); setTimeout(() => Atomics.store(workerData, 0, 1), 50);',
      { eval: true, workerData: interrupt });
    try {
      expect(compileBlock(ir, env)()).toBe(0);
    } finally {
      await worker.terminate();
    }
    expect(env.regs[0]).toBeGreaterThan(1);
    expect(env.regs[1]).toBe(env.regs[0]! - 1);
  });
});
