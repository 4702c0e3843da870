import { Op, newTemp, type CondCode, type Helper, type IrBlock, type IrOp, type OpCode, type Temp } from './ir.js';
import { neverOptimize } from './never-optimize.js';

// Front ends define helpers as literals with or without `pure` / `mayFault`,
// so reading the flags in the translator passes met several object maps and
// deoptimised them; blocks hold one-shape copies (one per helper, so a block's
// helper list still has one entry per distinct helper).
const uniformOf = new WeakMap<Helper, Helper>();
function uniform(h: Helper): Helper {
  let u = uniformOf.get(h);
  if (u === undefined) {
    u = { name: h.name, fn: h.fn, pure: h.pure === true, mayFault: h.mayFault === true };
    uniformOf.set(h, u);
  }
  return u;
}

// Global temps never change, so every block built from the same spec list shares them.
const globalTemps = new WeakMap<readonly GlobalSpec[], Temp[]>();

/** Names and CPU-state slots of the globals a front end uses. */
export interface GlobalSpec {
  name: string;
  slot: number;
}

/**
 * Every local temp: they differ only by index, and temps are never changed in
 * place, so one object serves all (one fewer object per local to keep for
 * each TB's life and to copy at every young-generation GC).
 */
const LOCAL: Temp = newTemp('local', 0, '');

/**
 * Builds the IR of one translation block. Front ends call these methods;
 * they never write host code.
 */
export class IrBuilder {
  readonly temps: Temp[];
  readonly ops: IrOp[] = [];
  private consts = new Map<number, number>();
  /** The front end's helper objects, by their index in `helpers` (a TB calls few: searching them beats making a Map for every TB). */
  private readonly helperKeys: Helper[] = [];
  readonly helpers: Helper[] = [];
  private nextLabel = 0;
  icount = 0;
  /** Set by the front end when a goto_tb slot targets the TB's own start. */
  loopSlot: number | undefined = undefined;
  /** Number of goto_tb slots used (chain links the TB needs). */
  slots = 0;

  constructor(globals: readonly GlobalSpec[] = []) {
    let shared = globalTemps.get(globals);
    if (shared === undefined) globalTemps.set(globals, (shared = globals.map((g) => newTemp('global', g.slot, g.name))));
    this.temps = shared.slice();
  }

  /** Temp index of the global at position i of the spec list. */
  global(i: number): number {
    return i;
  }

  /** A fresh local temp. */
  temp(): number {
    this.temps.push(LOCAL); // formatIr names locals by index
    return this.temps.length - 1;
  }

  /** A constant (shared per value within the block). */
  c(v: number): number {
    v |= 0;
    let t = this.consts.get(v);
    if (t === undefined) {
      this.temps.push(newTemp('const', v, '')); // no name string per constant: the IR of every TB is kept (formatIr prints the value)
      t = this.temps.length - 1;
      this.consts.set(v, t);
    }
    return t;
  }

  isConst(t: number): boolean {
    return this.temps[t]!.kind === 'const';
  }

  constValue(t: number): number {
    return this.temps[t]!.value;
  }

  label(): number {
    return this.nextLabel++;
  }

  private emit(op: OpCode, args: number[]): void {
    this.ops.push({ op, args });
  }

  mov(d: number, a: number): void { if (d !== a) this.emit(Op.mov, [d, a]); }
  movi(d: number, v: number): void { this.emit(Op.mov, [d, this.c(v)]); }
  private bin(op: OpCode, d: number, a: number, b: number): number { this.emit(op, [d, a, b]); return d; }
  add(d: number, a: number, b: number): number { return this.bin(Op.add, d, a, b); }
  sub(d: number, a: number, b: number): number { return this.bin(Op.sub, d, a, b); }
  mul(d: number, a: number, b: number): number { return this.bin(Op.mul, d, a, b); }
  and(d: number, a: number, b: number): number { return this.bin(Op.and, d, a, b); }
  or(d: number, a: number, b: number): number { return this.bin(Op.or, d, a, b); }
  xor(d: number, a: number, b: number): number { return this.bin(Op.xor, d, a, b); }
  andc(d: number, a: number, b: number): number { return this.bin(Op.andc, d, a, b); }
  shl(d: number, a: number, b: number): number { return this.bin(Op.shl, d, a, b); }
  shr(d: number, a: number, b: number): number { return this.bin(Op.shr, d, a, b); }
  sar(d: number, a: number, b: number): number { return this.bin(Op.sar, d, a, b); }
  rotr(d: number, a: number, b: number): number { return this.bin(Op.rotr, d, a, b); }
  divs(d: number, a: number, b: number): number { return this.bin(Op.divs, d, a, b); }
  divu(d: number, a: number, b: number): number { return this.bin(Op.divu, d, a, b); }
  addi(d: number, a: number, v: number): number { return this.add(d, a, this.c(v)); }
  andi(d: number, a: number, v: number): number { return this.and(d, a, this.c(v)); }
  shli(d: number, a: number, v: number): number { return this.shl(d, a, this.c(v)); }
  shri(d: number, a: number, v: number): number { return this.shr(d, a, this.c(v)); }
  sari(d: number, a: number, v: number): number { return this.sar(d, a, this.c(v)); }
  private un(op: OpCode, d: number, a: number): number { this.emit(op, [d, a]); return d; }
  not(d: number, a: number): number { return this.un(Op.not, d, a); }
  neg(d: number, a: number): number { return this.un(Op.neg, d, a); }
  ext8s(d: number, a: number): number { return this.un(Op.ext8s, d, a); }
  ext8u(d: number, a: number): number { return this.un(Op.ext8u, d, a); }
  ext16s(d: number, a: number): number { return this.un(Op.ext16s, d, a); }
  ext16u(d: number, a: number): number { return this.un(Op.ext16u, d, a); }
  bswap32(d: number, a: number): number { return this.un(Op.bswap32, d, a); }
  clz(d: number, a: number): number { return this.un(Op.clz, d, a); }
  setcond(d: number, a: number, b: number, cond: CondCode): number { this.emit(Op.setcond, [d, a, b, cond]); return d; }
  movcond(d: number, c1: number, c2: number, v1: number, v2: number, cond: CondCode): number {
    this.emit(Op.movcond, [d, c1, c2, v1, v2, cond]);
    return d;
  }
  mulu2(lo: number, hi: number, a: number, b: number): void { this.emit(Op.mulu2, [lo, hi, a, b]); }
  muls2(lo: number, hi: number, a: number, b: number): void { this.emit(Op.muls2, [lo, hi, a, b]); }
  add2(lo: number, hi: number, al: number, ah: number, bl: number, bh: number): void { this.emit(Op.add2, [lo, hi, al, ah, bl, bh]); }
  sub2(lo: number, hi: number, al: number, ah: number, bl: number, bh: number): void { this.emit(Op.sub2, [lo, hi, al, ah, bl, bh]); }
  ld(d: number, addr: number, memop: number): number { this.emit(Op.ld, [d, addr, memop]); return d; }
  st(v: number, addr: number, memop: number): void { this.emit(Op.st, [v, addr, memop]); }
  br(label: number): void { this.emit(Op.br, [label]); }
  brcond(a: number, b: number, cond: CondCode, label: number): void { this.emit(Op.brcond, [a, b, cond, label]); }
  setLabel(label: number): void { this.emit(Op.label, [label]); }
  /** Call a helper; ret is a temp to receive the result, or -1. */
  call(helper: Helper, ret: number, ...args: number[]): void {
    let h = this.helperKeys.indexOf(helper);
    if (h < 0) {
      h = this.helpers.length;
      this.helpers.push(uniform(helper));
      this.helperKeys.push(helper);
    }
    this.emit(Op.call, [ret, h, ...args]);
  }
  /** Leave the TB through chainable exit `slot` (0 or 1); the front end has already set the guest pc. */
  gotoTb(slot: number): void { this.emit(Op.gotoTb, [slot]); this.slots = Math.max(this.slots, slot + 1); }
  /** Leave the TB returning `code` (negative: the CPU loop looks the next TB up or handles an exception). */
  exitTb(code: number): void { this.emit(Op.exitTb, [code]); }
  insnStart(pc: number): void { this.emit(Op.insnStart, [pc]); this.icount++; }

  finish(): IrBlock {
    return { temps: this.temps, ops: this.ops, labels: this.nextLabel, helpers: this.helpers, icount: this.icount, loopSlot: this.loopSlot, slots: this.slots };
  }
}

// Translation-time code: kept out of TurboFan (see never-optimize.ts).
neverOptimize(IrBuilder);
