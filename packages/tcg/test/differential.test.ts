import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IrBuilder, GuestMemory, compileBlock, interpretBlock, optimizeBlock, Cond, MemOp, Op, type CondCode, type IrBlock } from '../src/index.js';

// Random straight-line IR with forward branches, loads and stores, run through
// the reference interpreter (unoptimised) and the JS back end (optimised).
const NG = 6;
const globals = Array.from({ length: NG }, (_, i) => ({ name: `g${i}`, slot: i }));
const BIN = ['add', 'sub', 'mul', 'and', 'or', 'xor', 'andc', 'shl', 'shr', 'sar', 'rotr', 'divs', 'divu'] as const;
const UN = ['not', 'neg', 'ext8s', 'ext8u', 'ext16s', 'ext16u', 'bswap32', 'clz'] as const;

type Step = number[];
const stepArb = fc.array(fc.integer({ min: 0, max: 0x7fffffff }), { minLength: 8, maxLength: 8 });

function build(prog: Step[], consts: number[]): IrBlock {
  const b = new IrBuilder(globals);
  const locals = [b.temp(), b.temp(), b.temp()];
  for (const l of locals) b.movi(l, 0);
  const pick = (x: number): number => {
    const k = x % (NG + locals.length + 2);
    if (k < NG) return b.global(k);
    if (k < NG + locals.length) return locals[k - NG]!;
    return b.c(consts[x % consts.length]!);
  };
  const dst = (x: number): number => { const k = x % (NG + locals.length); return k < NG ? b.global(k) : locals[k - NG]!; };
  const pending: number[] = [];
  for (const s of prog) {
    const [kind, d, x, y, z, w] = s as [number, number, number, number, number, number];
    switch (kind % 12) {
      case 0: case 1: case 2: (b as unknown as Record<string, (d: number, a: number, b: number) => void>)[BIN[x % BIN.length]!]!(dst(d), pick(y), pick(z)); break;
      case 3: (b as unknown as Record<string, (d: number, a: number) => void>)[UN[x % UN.length]!]!(dst(d), pick(y)); break;
      case 4: b.setcond(dst(d), pick(x), pick(y), (z % 10) as CondCode); break;
      case 5: b.movcond(dst(d), pick(x), pick(y), pick(z), pick(w), (d % 10) as CondCode); break;
      case 6: { const lo = dst(d), hi = dst(d + 1); if (lo !== hi) (x & 1 ? b.mulu2 : b.muls2).call(b, lo, hi, pick(y), pick(z)); break; }
      case 7: { const lo = dst(d), hi = dst(d + 1); if (lo !== hi) (x & 1 ? b.add2 : b.sub2).call(b, lo, hi, pick(y), pick(z), pick(w), pick(x)); break; }
      case 8: { const a = b.temp(); b.andi(a, pick(x), 0xfff); b.addi(a, a, 0x1000); b.ld(dst(d), a, [MemOp.u8, MemOp.s8, MemOp.u16, MemOp.s16, MemOp.u32, MemOp.u32 | MemOp.bswap, MemOp.u16 | MemOp.bswap][y % 7]!); break; }
      case 9: { const a = b.temp(); b.andi(a, pick(x), 0xfff); b.addi(a, a, 0x1000); b.st(pick(d), a, [MemOp.u8, MemOp.u16, MemOp.u32, MemOp.u32 | MemOp.bswap][y % 4]!); break; }
      case 10: { const l = b.label(); pending.push(l); b.brcond(pick(x), pick(y), (z % 10) as CondCode, l); break; }
      case 11: if (pending.length) b.setLabel(pending.shift()!); break;
    }
  }
  for (const l of pending) b.setLabel(l);
  b.exitTb(-5);
  return b.finish();
}

function run(ir: IrBlock, init: number[], how: 'interp' | 'js'): { regs: number[]; mem: number[]; ret: number } {
  const mem = new GuestMemory(0x3000);
  for (let i = 0; i < 0x1000; i++) mem.u8[0x1000 + i] = (i * 37 + 11) & 0xff;
  const regs = new Int32Array(NG);
  regs.set(init);
  const env = { regs, mem };
  const ret = how === 'interp' ? interpretBlock(ir, env) : compileBlock(ir, env)();
  return { regs: [...regs], mem: [...mem.u8.subarray(0x1000, 0x2003)], ret };
}

describe('IR interpreter vs JS back end', () => {
  it('agree on seeded random blocks (optimised JS vs plain interpreter)', () => {
    const consts = [0, 1, -1, 31, 32, 0x80000000 | 0, 0x7fffffff, 0xff, 0x1234, -7];
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 40 }), fc.array(fc.integer(), { minLength: NG, maxLength: NG }), (prog, init) => {
        const ref = run(build(prog, consts), init, 'interp');
        const opt = optimizeBlock(build(prog, consts));
        expect(run(opt, init, 'js')).toEqual(ref);
        expect(run(opt, init, 'interp')).toEqual(ref);
      }),
      { seed: 20261125, numRuns: 400 },
    );
  });

  it('folds constants and removes dead code', () => {
    const b = new IrBuilder(globals);
    const t = b.temp(), u = b.temp();
    b.movi(t, 6);
    b.mul(u, t, b.c(7));
    b.add(b.global(0), u, b.c(0));
    b.movi(b.global(1), 1);
    b.movi(b.global(1), 2); // the first store is dead
    b.exitTb(-1);
    const ir = optimizeBlock(b.finish());
    expect(ir.ops.map((o) => o.op)).toHaveLength(3);
    const r = run(ir, [0, 0, 0, 0, 0, 0], 'js');
    expect(r.regs.slice(0, 2)).toEqual([42, 2]);
  });

  it('folds unsigned compares against 0 that do not depend on the other operand', () => {
    const b = new IrBuilder(globals);
    b.setcond(b.global(0), b.global(5), b.c(0), Cond.geu); // always 1 (ARM: carry of cmp x, #0)
    b.setcond(b.global(1), b.global(5), b.c(0), Cond.ltu); // always 0
    b.setcond(b.global(2), b.c(0), b.global(5), Cond.leu); // always 1
    b.setcond(b.global(3), b.c(0), b.global(5), Cond.gtu); // always 0
    b.setcond(b.global(3), b.c(0), b.global(5), Cond.ltu); // depends on g5: kept
    b.setcond(b.global(4), b.global(5), b.c(0), Cond.lt); // signed: kept
    b.exitTb(-1);
    const plain = b.finish();
    const ir = optimizeBlock(structuredClone({ ...plain, helpers: [] }));
    expect(ir.ops.filter((o) => o.op === Op.setcond)).toHaveLength(2);
    for (const g5 of [0, 1, -1, 0x80000000 | 0, 12345]) {
      expect(run(ir, [9, 9, 9, 9, 9, g5], 'js')).toEqual(run(plain, [9, 9, 9, 9, 9, g5], 'interp'));
    }
  });

  it('long multiply halves match BigInt', () => {
    fc.assert(fc.property(fc.integer(), fc.integer(), (x, y) => {
      const b = new IrBuilder(globals);
      b.mulu2(b.global(0), b.global(1), b.global(2), b.global(3));
      b.muls2(b.global(4), b.global(5), b.global(2), b.global(3));
      b.exitTb(-1);
      const r = run(b.finish(), [0, 0, x | 0, y | 0, 0, 0], 'js');
      const u = BigInt(x >>> 0) * BigInt(y >>> 0), s = BigInt(x | 0) * BigInt(y | 0);
      expect(r.regs[0]).toBe(Number(BigInt.asIntN(32, u)));
      expect(r.regs[1]).toBe(Number(BigInt.asIntN(32, u >> 32n)));
      expect(r.regs[5]).toBe(Number(BigInt.asIntN(32, s >> 32n)));
    }), { seed: 7, numRuns: 300 });
  });
});
void Cond;
