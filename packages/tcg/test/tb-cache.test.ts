import { describe, expect, it } from 'vitest';
import { EXIT_LOOKUP, GuestMemory, IrBuilder, MemOp, TbCache, type FrontEnd } from '../src/index.js';

// A toy guest: the word at pc is added to r0; 0 stops (exit code -7); the
// next TB is at pc + 4, reached through goto_tb so TBs chain.
function toyMachine(opts = {}) {
  const mem = new GuestMemory(0x4000);
  const regs = new Int32Array(16);
  const fe: FrontEnd = {
    pc: () => regs[15]!,
    flags: () => 0,
    translate(pc) {
      const b = new IrBuilder([{ name: 'r0', slot: 0 }, { name: 'pc', slot: 15 }, { name: 'r1', slot: 1 }, { name: 'r3', slot: 3 }]);
      b.insnStart(pc);
      const v = mem.ld32(pc);
      if (v === 0) { b.exitTb(-7); return { ir: b.finish(), end: pc + 4 }; }
      if (v < 0) { // counted jump: r1 -= 1; if r1 != 0 goto target else fall through
        const skip = b.label();
        b.add(b.global(2), b.global(2), b.c(-1));
        b.brcond(b.global(2), b.c(0), 0, skip);
        b.movi(b.global(1), v & 0x7fffffff);
        b.gotoTb(0);
        b.setLabel(skip);
        b.movi(b.global(1), pc + 4);
        b.gotoTb(1);
        return { ir: b.finish(), end: pc + 4 };
      }
      if (v === 0x40000000) { // indirect jump to r3 (like a return): the next TB is looked up by pc
        b.mov(b.global(1), b.global(3));
        b.exitTb(EXIT_LOOKUP);
        return { ir: b.finish(), end: pc + 4 };
      }
      const t = b.temp();
      b.ld(t, b.c(pc), MemOp.u32); // read at run time too, so stale code would show
      b.add(b.global(0), b.global(0), t);
      b.movi(b.global(1), pc + 4);
      b.gotoTb(0);
      return { ir: b.finish(), end: pc + 4 };
    },
  };
  fe.lookupKeySource = () => ({ pc: 'R[15]', flags: '0' });
  return { mem, regs, fe, cache: new TbCache({ regs, mem }, fe, opts) };
}

describe('TbCache', () => {
  it('a TB about to be compiled whose last four indirect exits went to one TB is translated again with it as a hint', () => {
    // 0x1000: r0 += 5; jump to r3 (0x2000)   0x2000: r0 += 1; counted jump back to 0x1000; 0: stop
    const { mem, regs, fe, cache } = toyMachine({ hotThreshold: 6 });
    [5, 0x40000000].forEach((v, i) => mem.st32(0x1000 + i * 4, v));
    [1, 0x80001000 | 0, 0].forEach((v, i) => mem.st32(0x2000 + i * 4, v));
    const hints: number[][] = [];
    // The new translation of the jump adds 100 to r0 before it jumps, so the runs that use it show.
    fe.retranslate = (pc, flags, how) => {
      hints.push([pc, flags, how.hint!.pc, how.hint!.flags]);
      expect(how.stops).toBeUndefined();
      const b = new IrBuilder([{ name: 'r0', slot: 0 }, { name: 'pc', slot: 15 }, { name: 'r3', slot: 3 }]);
      b.insnStart(pc);
      b.add(b.global(0), b.global(0), b.c(100));
      b.mov(b.global(1), b.global(2));
      b.exitTb(EXIT_LOOKUP);
      return { ir: b.finish(), end: pc + 4 };
    };
    regs[15] = 0x1000;
    regs[3] = 0x2000;
    regs[1] = 20;
    expect(cache.run()).toBe(-7);
    expect(hints).toEqual([[0x1004, 0, 0x2000, 0]]);
    expect(cache.tbsRetranslated).toBe(1);
    expect(cache.tbsStopped).toBe(0);
    // 20 rounds of +5 +1; the jump's TB ran 5 times interpreted, then 15 times as its new translation.
    expect(regs[0]).toBe(20 * 6 + 15 * 100);
    expect(cache.insnsExecuted).toBe(20 * 4 + 1);
  });

  it('a TB is not translated again before it is hot, nor when the front end declines the hint', () => {
    const { mem, regs, fe, cache } = toyMachine({ hotThreshold: 6 });
    [5, 0x40000000].forEach((v, i) => mem.st32(0x1000 + i * 4, v));
    [1, 0x80001000 | 0, 0].forEach((v, i) => mem.st32(0x2000 + i * 4, v));
    let asked = 0;
    fe.retranslate = () => { asked++; return null; };
    regs[15] = 0x1000;
    regs[3] = 0x2000;
    regs[1] = 3; // three runs: below the threshold
    expect(cache.run()).toBe(-7);
    expect(asked).toBe(0);
    regs[15] = 0x1000;
    regs[1] = 20;
    expect(cache.run()).toBe(-7);
    expect(asked).toBe(1); // hot now, one target: asked, declined
    expect(cache.tbsRetranslated).toBe(0);
    expect(regs[0]).toBe(23 * 6);
  });

  it('runs a loop spanning two TBs as one region, counting exactly', () => {
    // Toy guest variant: word 0x8000_0000 | target means "jump to target".
    const { mem, regs, cache } = toyMachine({ regions: true, hotThreshold: 2 });
    [1, 2, 0x80001000 | 0].forEach((v, i) => mem.st32(0x1000 + i * 4, v));
    mem.st32(0x100c, 0);
    regs[15] = 0x1000;
    regs[1] = 100; // loop count, decremented by the jump
    expect(cache.run()).toBe(-7);
    expect(regs[0]).toBe(3 * 100);
    expect(cache.insnsExecuted).toBe(3 * 100 + 1);
    expect(cache.regionsCompiled).toBeGreaterThan(0);
  });

  it('runs a loop spanning TBs with direct chaining (TBs calling their successors), counting exactly', () => {
    const { mem, regs, cache } = toyMachine({ directChain: true, hotThreshold: 2 });
    [1, 2, 0x80001000 | 0].forEach((v, i) => mem.st32(0x1000 + i * 4, v));
    mem.st32(0x100c, 0);
    regs[15] = 0x1000;
    regs[1] = 1000; // more iterations than the nesting depth, so TBs return to the dispatcher mid-chain
    expect(cache.run()).toBe(-7);
    expect(regs[0]).toBe(3 * 1000);
    expect(cache.insnsExecuted).toBe(3 * 1000 + 1);
    expect(cache.tbsTranslated).toBe(4);
  });

  it('translates each block once, chains, and counts instructions', () => {
    const { mem, regs, cache } = toyMachine();
    [1, 2, 3, 0].forEach((v, i) => mem.st32(0x1000 + i * 4, v));
    for (let round = 0; round < 3; round++) {
      regs[15] = 0x1000;
      expect(cache.run()).toBe(-7);
    }
    expect(regs[0]).toBe(18);
    expect(cache.tbsTranslated).toBe(4);
    expect(cache.insnsExecuted).toBe(12);
  });

  it('invalidates TBs when their code page is written', () => {
    const { mem, regs, cache } = toyMachine();
    [5, 0].forEach((v, i) => mem.st32(0x1000 + i * 4, v));
    regs[15] = 0x1000;
    cache.run();
    expect(regs[0]).toBe(5);
    mem.st32(0x1004, 10); // a guest store into translated code
    mem.st32(0x1008, 0);
    expect(cache.tbsInvalidated).toBeGreaterThan(0);
    regs[15] = 0x1000;
    regs[0] = 0;
    cache.run();
    expect(regs[0]).toBe(15);
  });

  it('compiled TBs return their linked successor, and the last target of an indirect exit while its pc matches', () => {
    const { mem, regs, cache } = toyMachine({ hotThreshold: 2 });
    // 0x1000: r0 += 1; 0x1004: jump to r3 (0x2000, on another page); 0x2000: loop to 0x1000 while --r1.
    [1, 0x40000000].forEach((v, i) => mem.st32(0x1000 + i * 4, v));
    [0x80001000 | 0, 0].forEach((v, i) => mem.st32(0x2000 + i * 4, v));
    regs[15] = 0x1000;
    regs[1] = 1000;
    regs[3] = 0x2000;
    expect(cache.run()).toBe(-7);
    expect(regs[0]).toBe(1000);
    expect(cache.insnsExecuted).toBe(3 * 1000 + 1);
    const add = cache.lookup(0x1000, 0), jump = cache.lookup(0x1004, 0), loop = cache.lookup(0x2000, 0);
    expect(add.links[0]).toBe(jump);
    expect(jump.ind).toBe(loop);
    regs[15] = 0x1000;
    expect(add.fn()).toBe(jump); // a chained exit hands over the successor itself
    expect(jump.fn()).toBe(loop); // the indirect exit's one-entry cache hit
    regs[3] = 0x2004;
    expect(jump.fn()).toBe(EXIT_LOOKUP); // another target: the dispatcher looks it up
    // New code on the second page: its TBs are dropped and unlinked, the next run translates them again.
    mem.st32(0x2000, 5);
    mem.st32(0x2004, 0);
    expect(loop.valid).toBe(false);
    expect(jump.ind).toBe(null);
    regs[15] = 0x1000;
    regs[0] = 0;
    regs[3] = 0x2000;
    expect(cache.run()).toBe(-7);
    expect(regs[0]).toBe(6);
  });

  it('an indirect exit also hits its three older targets (first in, first out), and drops invalidated ones', () => {
    const { mem, regs, cache } = toyMachine({ hotThreshold: 1 });
    mem.st32(0x1000, 0x40000000); // jump to r3
    const targets = [0x2000, 0x3100, 0x2200, 0x2300, 0x2400]; // each stops at once (word 0); 0x3100 alone on its page
    const run = (t: number): number => { regs[15] = 0x1000; regs[3] = t; return cache.run(); };
    run(targets[0]!); // the jump TB is compiled on this first run; its cache fills from here
    for (const t of targets.slice(0, 4)) expect(run(t)).toBe(-7);
    const jump = cache.lookup(0x1000, 0);
    expect(jump.ind).toBe(cache.lookup(targets[3]!, 0)); // newest inline, the others in i1..i3
    for (const t of targets.slice(0, 4)) {
      regs[3] = t;
      expect(jump.fn()).toBe(cache.lookup(t, 0));
      expect(regs[15]).toBe(t);
    }
    regs[3] = targets[4]!;
    expect(jump.fn()).toBe(EXIT_LOOKUP); // a fifth target: the dispatcher looks it up
    expect(run(targets[4]!)).toBe(-7); // ... and it pushes out the oldest (0x2000)
    regs[3] = targets[0]!;
    expect(jump.fn()).toBe(EXIT_LOOKUP);
    mem.st32(0x3104, 0); // code written on the page of 0x3100: that entry goes
    regs[3] = targets[1]!;
    expect(jump.fn()).toBe(EXIT_LOOKUP);
    regs[3] = targets[2]!;
    expect(jump.fn()).toBe(cache.lookup(targets[2]!, 0));
  });

  it('with countInsns false, runs the same loop to the same result and counts nothing (regions too)', () => {
    for (const [countInsns, regions] of [[true, false], [false, false], [true, true], [false, true]]) {
      const { mem, regs, cache } = toyMachine({ countInsns, regions, hotThreshold: 2 });
      [1, 2, 0x80001000 | 0].forEach((v, i) => mem.st32(0x1000 + i * 4, v));
      mem.st32(0x100c, 0);
      regs[15] = 0x1000;
      regs[1] = 100;
      expect(cache.run()).toBe(-7);
      expect(regs[0]).toBe(3 * 100);
      expect(cache.insnsExecuted).toBe(countInsns ? 3 * 100 + 1 : 0);
      expect(cache.regionsCompiled > 0).toBe(regions);
    }
  });

  it('gives the same results without chaining, through the interpreter, and in regions', () => {
    for (const opts of [{ chain: false }, { interpret: true }, { optimize: false }, { regions: true, hotThreshold: 2 }, { directChain: true, hotThreshold: 2 }]) {
      const { mem, regs, cache } = toyMachine(opts);
      [7, 8, 0].forEach((v, i) => mem.st32(0x1000 + i * 4, v));
      regs[15] = 0x1000;
      expect(cache.run()).toBe(-7);
      expect(regs[0]).toBe(15);
    }
  });
});

describe('TbCache: a hot TB holding a loop that has a TB of its own', () => {
  // 0x1000: r0 += 1 (a prologue), then the loop at 0x1004: r0 += 10; r1 -= 1;
  // back to 0x1004 while r1 != 0; then stop (-7). Translated from 0x1000 the
  // TB holds a copy of the loop's first iteration; the loop's own TB (from the
  // back edge) loops on itself. Once the prologue's TB is hot it may end at the
  // loop (stops), so the loop is compiled once.
  function machine(honour: boolean) {
    const mem = new GuestMemory(0x4000);
    const regs = new Int32Array(16);
    const asked: { pc: number; stops: { pc: number; flags: number }[] | undefined }[] = [];
    const G = [{ name: 'r0', slot: 0 }, { name: 'pc', slot: 15 }, { name: 'r1', slot: 1 }];
    const block = (pc: number, stopAtLoop: boolean) => {
      const b = new IrBuilder(G);
      if (pc === 0x1000) {
        b.insnStart(0x1000);
        b.add(b.global(0), b.global(0), b.c(1));
        if (stopAtLoop) { b.movi(b.global(1), 0x1004); b.gotoTb(0); return { ir: b.finish(), end: 0x1004 }; }
      }
      const out = b.label();
      b.insnStart(0x1004);
      b.add(b.global(0), b.global(0), b.c(10));
      b.add(b.global(2), b.global(2), b.c(-1));
      b.brcond(b.global(2), b.c(0), 0, out);
      b.movi(b.global(1), 0x1004);
      if (pc === 0x1004) b.loopSlot = 0;
      b.gotoTb(0);
      b.setLabel(out);
      b.insnStart(0x1008);
      b.movi(b.global(1), 0x1008);
      b.exitTb(-7);
      return { ir: b.finish(), end: 0x100c };
    };
    const fe: FrontEnd = {
      pc: () => regs[15]!,
      flags: () => 0,
      translate: (pc) => block(pc, false),
      retranslate: (pc, _flags, how) => {
        asked.push({ pc, stops: how.stops?.map((s) => ({ ...s })) });
        return honour && how.stops?.some((s) => s.pc === 0x1004 && s.flags === 0) ? { ...block(pc, true), stopped: true } : null;
      },
    };
    return { regs, asked, cache: new TbCache({ regs, mem }, fe, { hotThreshold: 3, coldExits: false }) };
  }

  for (const honour of [true, false]) {
    it(`is translated again with the loop's start as a stop${honour ? '' : ' (declined: nothing changes)'}`, () => {
      const { regs, asked, cache } = machine(honour);
      for (let run = 1; run <= 6; run++) {
        regs[15] = 0x1000;
        regs[1] = 5;
        expect(cache.run()).toBe(-7);
        expect(regs[0]).toBe(run * (1 + 5 * 10));
        expect(cache.insnsExecuted).toBe(run * (1 + 5 + 1));
      }
      // Asked once, when the prologue's TB got hot (its third run): the loop's TB existed by then.
      expect(asked).toEqual([{ pc: 0x1000, stops: [{ pc: 0x1004, flags: 0 }] }]);
      expect(cache.tbsRetranslated).toBe(honour ? 1 : 0);
      expect(cache.tbsStopped).toBe(honour ? 1 : 0);
      expect(cache.tbsHinted).toBe(0);
    });
  }

  it('is not asked to stop there when some of its interpreted runs finished the loop themselves', () => {
    // The first run loops 5 times (the loop's TB appears), the next ones once: the
    // prologue's copy of the first iteration is all they need, ending there would add a transition.
    const { regs, asked, cache } = machine(true);
    for (let run = 1; run <= 6; run++) {
      regs[15] = 0x1000;
      regs[1] = run === 1 ? 5 : 1;
      expect(cache.run()).toBe(-7);
    }
    expect(regs[0]).toBe(1 + 5 * 10 + 5 * (1 + 10));
    expect(asked).toEqual([]);
    expect(cache.tbsStopped).toBe(0);
  });
});

describe('TbCache: instructions a hot TB never reached while interpreted', () => {
  // One TB at 0x1000: r0 += 1; if r1 != 0 skip the side; the side is `len`
  // instructions of r2 += 1 at 0x1004...; then r0 += 100 and stop (-7). The
  // runs before the TB gets hot (threshold 3) have r1 != 0, so the side is never
  // reached; TbCache then asks for a translation without it (`colds`).
  function machine(len: number, opts = {}) {
    const mem = new GuestMemory(0x4000);
    const regs = new Int32Array(16);
    const asked: (number[] | undefined)[] = [];
    const G = [{ name: 'r0', slot: 0 }, { name: 'pc', slot: 15 }, { name: 'r1', slot: 1 }, { name: 'r2', slot: 2 }];
    const block = (colds?: ReadonlySet<number>) => {
      const b = new IrBuilder(G);
      b.insnStart(0x1000);
      b.add(b.global(0), b.global(0), b.c(1));
      const skip = b.label();
      b.brcond(b.global(2), b.c(0), 1, skip);
      const after = 0x1004 + 4 * len;
      for (let i = 0; i < len; i++) {
        const pc = 0x1004 + 4 * i;
        if (colds?.has(pc)) { b.movi(b.global(1), pc); b.gotoTb(0); break; } // leave for it, as a front end would
        b.insnStart(pc);
        b.add(b.global(3), b.global(3), b.c(1));
      }
      b.setLabel(skip);
      b.insnStart(after);
      b.add(b.global(0), b.global(0), b.c(100));
      b.exitTb(-7);
      return { ir: b.finish(), end: after + 4 };
    };
    const fe: FrontEnd = {
      pc: () => regs[15]!,
      flags: () => 0,
      translate: (pc) => {
        if (pc === 0x1000) return block();
        // A TB of the side's own (entered through the exit): r2 += 1 up to its end, then the tail.
        const b = new IrBuilder(G);
        for (let a = pc; a < 0x1004 + 4 * len; a += 4) { b.insnStart(a); b.add(b.global(3), b.global(3), b.c(1)); }
        b.insnStart(0x1004 + 4 * len);
        b.add(b.global(0), b.global(0), b.c(100));
        b.exitTb(-7);
        return { ir: b.finish(), end: 0x1008 + 4 * len };
      },
      retranslate: (_pc, _flags, how) => {
        asked.push(how.colds === undefined ? undefined : [...how.colds]);
        return how.colds === undefined ? null : { ...block(how.colds), colded: true };
      },
    };
    return { regs, asked, cache: new TbCache({ regs, mem }, fe, { hotThreshold: 3, ...opts }) };
  }
  const SIDE = Array.from({ length: 8 }, (_, i) => 0x1004 + 4 * i);

  it('are left out once it is hot; when they do run, results and counts are exact', () => {
    const { regs, asked, cache } = machine(8);
    let insns = 0;
    for (let run = 1; run <= 6; run++) {
      regs[15] = 0x1000;
      regs[1] = run === 5 ? 0 : 1; // the side runs once, after the TB was compiled without it
      regs[0] = 0;
      regs[2] = 0;
      expect(cache.run()).toBe(-7);
      expect(regs[0]).toBe(101);
      expect(regs[2]).toBe(run === 5 ? 8 : 0);
      insns += run === 5 ? 10 : 2;
      expect(cache.insnsExecuted).toBe(insns);
    }
    expect(asked).toEqual([SIDE]);
    expect(cache.tbsColded).toBe(1);
    expect(cache.tbsTranslated).toBe(2); // the side ran as a TB of its own, entered through the exit
  });

  it('are kept when fewer than eight in a row, or when cold exits are off', () => {
    for (const [len, opts] of [[7, {}], [8, { coldExits: false }]] as const) {
      const { regs, asked, cache } = machine(len, opts);
      for (let run = 1; run <= 5; run++) {
        regs[15] = 0x1000;
        regs[1] = run === 5 ? 0 : 1;
        regs[2] = 0;
        expect(cache.run()).toBe(-7);
        expect(regs[2]).toBe(run === 5 ? len : 0);
      }
      expect(asked).toEqual([]);
      expect(cache.tbsColded).toBe(0);
    }
  });
});

describe('TbCache: loads from constant addresses on pages nobody may write', () => {
  // One TB: r0 += [0x2000]; stop (-7). Page 2 is read-only (a literal pool), or writable.
  function machine(prot: number) {
    const mem = new GuestMemory(0x4000);
    mem.protect(0, 3, 7);
    mem.protect(2, 2, prot);
    mem.i32[0x2000 >> 2] = 5;
    const regs = new Int32Array(16);
    const fe: FrontEnd = {
      pc: () => regs[15]!,
      flags: () => 0,
      translate(pc) {
        const b = new IrBuilder([{ name: 'r0', slot: 0 }, { name: 'pc', slot: 15 }]);
        b.insnStart(pc);
        const t = b.temp();
        b.ld(t, b.c(0x2000), MemOp.u32);
        b.add(b.global(0), b.global(0), t);
        b.exitTb(-7);
        return { ir: b.finish(), end: pc + 4 };
      },
    };
    const cache = new TbCache({ regs, mem }, fe, { hotThreshold: 2 });
    const run = (times: number): number => {
      regs[0] = 0;
      for (let i = 0; i < times; i++) { regs[15] = 0x1000; expect(cache.run()).toBe(-7); }
      return regs[0]!;
    };
    return { mem, cache, run };
  }

  it('read-only: the compiled TB holds the value; a write after mprotect makes it read memory again', () => {
    const { mem, cache, run } = machine(1);
    expect(run(4)).toBe(20); // two interpreted runs, then compiled
    mem.i32[0x2000 >> 2] = 7; // behind the guest's back (no guest can write a read-only page)
    expect(run(2)).toBe(10); // folded: still 5
    mem.protect(2, 2, 3); // mprotect(PROT_READ | PROT_WRITE), then a guest store
    mem.st32(0x2000, 9);
    expect(mem.fk).toBe(0);
    expect(cache.tbsInvalidated).toBe(1);
    expect(run(3)).toBe(27); // translated again, reading memory (the page is writable now)
    mem.i32[0x2000 >> 2] = 1;
    expect(run(1)).toBe(1);
  });

  it('writable: the TB reads memory at every run', () => {
    const { mem, run } = machine(3);
    expect(run(4)).toBe(20);
    mem.i32[0x2000 >> 2] = 7;
    expect(run(2)).toBe(14);
  });
});
