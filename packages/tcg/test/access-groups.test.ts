import { describe, expect, it } from 'vitest';
import {
  compileBlock, EXIT_FAULT, FAULT_ALIGN, FAULT_READ, FAULT_WRITE, generateSource, GuestMemory, interpretBlock, IrBuilder, MemOp,
  optimizeBlock, type IrBlock,
} from '../src/index.js';

// Word accesses of one instruction to one base plus constant offsets (LDM /
// STM, PUSH / POP) are tested once by the JS back end: the lowest address's
// alignment and the permission bytes of the lowest and highest word's pages.
// Whatever that test rejects runs word by word through the checked paths, so
// faults (kind, address, pc, registers), partial stores and the writes to
// code pages are the interpreter's.
const G = Array.from({ length: 8 }, (_, i) => ({ name: `r${i}`, slot: i }));

function setup(): GuestMemory {
  const mem = new GuestMemory(0x10000);
  mem.protect(0, 15, 0, false); // nothing mapped
  mem.protect(1, 2, 3); // 0x1000-0x2fff: read+write
  mem.protect(3, 3, 1); // 0x3000: read only
  mem.protect(4, 4, 0); // 0x4000: PROT_NONE (mapped)
  for (let a = 0x1000; a < 0x4000; a += 4) mem.i32[a >>> 2] = a ^ 0x5a5a;
  return mem;
}

/**
 * insn 0x100: r7 = r7 + 1; insn 0x104: an LDM / STM of `words` words from r0
 * (descending, as PUSH stores, with `down`): r1..r<words> loaded, or stored
 * from r1..; insn 0x108: r7 = 99.
 */
function ldm(store: boolean, words: number, down = false, memop = MemOp.u32 | MemOp.align): IrBlock {
  const b = new IrBuilder(G);
  b.insnStart(0x100);
  b.add(b.global(7), b.global(7), b.c(1));
  b.insnStart(0x104);
  const vals: number[] = [];
  for (let k = 0; k < words; k++) {
    const off = down ? -4 * (k + 1) : 4 * k;
    let a = b.global(0);
    if (off !== 0) { a = b.temp(); b.add(a, b.global(0), b.c(off)); }
    if (store) b.st(b.global(1 + k), a, memop);
    else { const t = b.temp(); b.ld(t, a, memop); vals.push(t); }
  }
  for (let k = 0; k < vals.length; k++) b.mov(b.global(1 + k), vals[k]!);
  b.insnStart(0x108);
  b.movi(b.global(7), 99);
  b.exitTb(-1);
  return optimizeBlock(b.finish());
}

type Outcome = { ret: number; regs: number[]; fault: number[]; mem: number[] };

function run(ir: IrBlock, base: number, how: 'js' | 'interp'): Outcome {
  const mem = setup();
  const regs = Int32Array.from([base, 11, 22, 33, 44, 55, 66, 7]);
  const env = { regs, mem };
  const ret = how === 'js' ? compileBlock(ir, env)() : interpretBlock(ir, env);
  const window: number[] = [];
  for (let a = (base - 32) & ~3; a < base + 32; a += 4) window.push(a >= 0x1000 && a < 0x4000 ? mem.i32[a >>> 2]! : 0);
  return { ret, regs: [...regs], fault: ret === EXIT_FAULT ? [mem.fk, mem.faultPc, mem.faultAddr] : [], mem: window };
}

describe('grouped word accesses (JS back end)', () => {
  it('test a group once', () => {
    const src = generateSource(ldm(false, 4));
    expect(src.match(/NR\[/g)).toHaveLength(2); // the lowest and the highest word's page
    expect(src).toMatch(/\|NR\[g0>>>12\]\|NR\[t\d+>>>12\]\)===0\)\{/);
    const push = generateSource(ldm(true, 3, true));
    expect(push.match(/NW\[/g)).toHaveLength(2);
  });

  const cases: [string, boolean, number, boolean, number[] | null][] = [
    // what, store, base, descending, expected fault [kind, pc, addr] (null: none)
    ['a load group inside one page', false, 0x1100, false, null],
    ['a load group across two readable pages', false, 0x1ff8, false, null],
    ['a load group running into PROT_NONE', false, 0x3ff8, false, [FAULT_READ, 0x104, 0x4000]],
    ['a load group from an unmapped page', false, 0x8000, false, [FAULT_READ, 0x104, 0x8000]],
    ['a misaligned load group', false, 0x1102, false, [FAULT_ALIGN, 0x104, 0x1102]],
    ['a store group inside one page', true, 0x1100, false, null],
    ['a store group running into a read-only page (the first words are stored)', true, 0x2ff8, false, [FAULT_WRITE, 0x104, 0x3000]],
    ['a descending store group (PUSH) across two writable pages', true, 0x2008, true, null],
    ['a descending store group from a read-only page into a writable one', true, 0x3008, true, [FAULT_WRITE, 0x104, 0x3004]],
    ['a misaligned descending store group', true, 0x1101, true, [FAULT_ALIGN, 0x104, 0x10fd]],
  ];
  for (const [what, store, base, down, fault] of cases) {
    it(what, () => {
      const ir = ldm(store, 4, down);
      const js = run(ir, base, 'js');
      expect(js).toEqual(run(ir, base, 'interp'));
      if (fault) {
        expect(js.fault).toEqual(fault);
        expect(js.regs).toEqual([base, 11, 22, 33, 44, 55, 66, 8]); // the first instruction done, the group's not
      } else {
        expect(js.ret).toBe(-1);
        expect(js.regs[7]).toBe(99);
        if (!store) expect(js.regs.slice(1, 5)).toEqual([0, 4, 8, 12].map((o) => (base + o) ^ 0x5a5a));
      }
    });
  }

  it('a store group onto a page of translated code takes the checked path (it drops those TBs)', () => {
    const mem = setup();
    const dropped: number[] = [];
    mem.setCode(1, true);
    mem.onCodeWrite = (addr: number) => { dropped.push(addr >>> 12); mem.setCode(addr >>> 12, false); };
    const regs = Int32Array.from([0x1100, 11, 22, 33, 44, 55, 66, 7]);
    expect(compileBlock(ldm(true, 4), { regs, mem })()).toBe(-1);
    expect(dropped).toEqual([1]);
    expect([0, 1, 2, 3].map((k) => mem.i32[(0x1100 >>> 2) + k])).toEqual([11, 22, 33, 44]);
  });

  it('leaves accesses alone that differ in memop or are not whole words apart', () => {
    const b = new IrBuilder(G);
    b.insnStart(0x100);
    const t = b.temp(), u = b.temp(), a = b.temp();
    b.ld(t, b.global(0), MemOp.u32);
    b.add(a, b.global(0), b.c(2)); // a halfword apart
    b.ld(u, a, MemOp.u32);
    b.mov(b.global(1), t);
    b.mov(b.global(2), u);
    b.exitTb(-1);
    const ir = optimizeBlock(b.finish());
    expect(generateSource(ir).match(/NR\[/g)).toHaveLength(2); // two separate tests, one table read each
    for (const base of [0x1100, 0x3ffc, 0x1ffe]) expect(run(ir, base, 'js')).toEqual(run(ir, base, 'interp'));
  });
});
