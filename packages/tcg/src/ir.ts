// TCG intermediate representation.
//
// Values are 32-bit integers held in temps. A temp is a global (a slot of the
// CPU state array, e.g. a guest register), a local (lives for one TB), or a
// constant. 64-bit results (long multiplies, 64-bit adds) are expressed as
// pairs of 32-bit temps, which keeps the JavaScript back end in int32.

export const Op = {
  mov: 1, // d, a
  add: 2, sub: 3, mul: 4, and: 5, or: 6, xor: 7, andc: 8, // d, a, b
  shl: 9, shr: 10, sar: 11, rotr: 12, // d, a, b  (count taken mod 32)
  divs: 13, divu: 14, // d, a, b  (ARM semantics: x/0 = 0, INT_MIN/-1 = INT_MIN)
  not: 15, neg: 16, ext8s: 17, ext8u: 18, ext16s: 19, ext16u: 20, bswap32: 21, clz: 22, // d, a
  setcond: 23, // d, a, b, cond
  movcond: 24, // d, c1, c2, v1, v2, cond   d = cond(c1,c2) ? v1 : v2
  mulu2: 25, muls2: 26, // lo, hi, a, b
  add2: 27, sub2: 28, // lo, hi, al, ah, bl, bh
  ld: 29, // d, addr, memop
  st: 30, // v, addr, memop
  br: 31, // label
  brcond: 32, // a, b, cond, label
  label: 33, // label
  call: 34, // ret (or -1), helper index, args...
  gotoTb: 35, // slot
  exitTb: 36, // code
  insnStart: 37, // guest pc
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

export const OpName: Record<number, string> = Object.fromEntries(Object.entries(Op).map(([k, v]) => [v, k]));

/** Comparison conditions for setcond / movcond / brcond. */
export const Cond = {
  eq: 0, ne: 1, lt: 2, ge: 3, le: 4, gt: 5, ltu: 6, geu: 7, leu: 8, gtu: 9,
} as const;
export type CondCode = (typeof Cond)[keyof typeof Cond];

export function invertCond(c: CondCode): CondCode {
  return (c ^ 1) as CondCode; // pairs: eq/ne, lt/ge, le/gt, ltu/geu, leu/gtu
}

export function evalCond(c: CondCode, a: number, b: number): boolean {
  switch (c) {
    case 0: return a === b;
    case 1: return a !== b;
    case 2: return (a | 0) < (b | 0);
    case 3: return (a | 0) >= (b | 0);
    case 4: return (a | 0) <= (b | 0);
    case 5: return (a | 0) > (b | 0);
    case 6: return a >>> 0 < b >>> 0;
    case 7: return a >>> 0 >= b >>> 0;
    case 8: return a >>> 0 <= b >>> 0;
    case 9: return a >>> 0 > b >>> 0;
  }
  return false;
}

/**
 * Memory operation descriptor: size (log2 bytes) | signed | big-endian |
 * align (an address not a multiple of the size raises an alignment fault) |
 * align8 (not a multiple of 8 faults: the first word of LDREXD).
 */
export const MemOp = {
  u8: 0, u16: 1, u32: 2, s8: 4, s16: 5, s32: 6, bswap: 8, sizeMask: 3, sign: 4, align: 16, align8: 32,
} as const;

export type TempKind = 'global' | 'local' | 'const';

export interface Temp {
  kind: TempKind;
  /** CPU state slot for a global, the value for a constant. */
  value: number;
  /** A global's name; '' for locals and constants (formatIr names those by index and value). */
  name: string;
}

/**
 * The one place temps are made. Constants outside V8's Smi range (e.g.
 * 0x80000000|0) change the `value` field's representation from Smi to double
 * the first time one appears, which deprecates the Temp map and deoptimises
 * whatever optimised code had it; making one such temp at load time means
 * that happens before anything is optimised.
 */
export function newTemp(kind: TempKind, value: number, name: string): Temp {
  return { kind, value, name };
}
newTemp('const', 0.5, '');

export interface IrOp {
  op: OpCode;
  args: number[];
}

/** A helper the generated code may call: a plain function of int32 args. */
export interface Helper {
  name: string;
  fn: (...args: number[]) => number | void;
  /** true when the helper neither reads nor writes globals (lets the optimiser keep values in temps). */
  pure?: boolean;
  /** The helper accesses guest memory through GuestMemory's checked slow paths: generated code tests for a fault after it. */
  mayFault?: boolean;
}

/** A finished TB's IR. */
export interface IrBlock {
  temps: Temp[];
  ops: IrOp[];
  labels: number;
  helpers: Helper[];
  /** Guest instructions in the block (for the instruction counter). */
  icount: number;
  /** goto_tb slot that jumps back to this TB's own start (compiled as a loop), if any. */
  loopSlot?: number;
  /** goto_tb slots used (0..slots-1). */
  slots?: number;
}

export function formatIr(b: IrBlock): string {
  const t = (i: number): string => {
    const tp = b.temps[i];
    if (!tp) return `?${i}`;
    if (tp.kind === 'const') return `$${tp.value}`;
    return tp.kind === 'local' ? `t${i}` : tp.name;
  };
  const lines: string[] = [];
  for (const o of b.ops) {
    const a = o.args;
    switch (o.op) {
      case Op.label: lines.push(`L${a[0]}:`); break;
      case Op.br: lines.push(`  br L${a[0]}`); break;
      case Op.brcond: lines.push(`  brcond ${t(a[0]!)}, ${t(a[1]!)}, c${a[2]}, L${a[3]}`); break;
      case Op.ld: case Op.st: lines.push(`  ${OpName[o.op]} ${t(a[0]!)}, [${t(a[1]!)}], mo${a[2]}`); break;
      case Op.setcond: lines.push(`  setcond ${t(a[0]!)}, ${t(a[1]!)}, ${t(a[2]!)}, c${a[3]}`); break;
      case Op.movcond: lines.push(`  movcond ${a.slice(0, 5).map(t).join(', ')}, c${a[5]}`); break;
      case Op.call: lines.push(`  call ${a[0]! >= 0 ? t(a[0]!) + ' = ' : ''}${b.helpers[a[1]!]!.name}(${a.slice(2).map(t).join(', ')})`); break;
      case Op.gotoTb: case Op.exitTb: case Op.insnStart: lines.push(`  ${OpName[o.op]} ${a[0]}`); break;
      default: lines.push(`  ${OpName[o.op]} ${a.map(t).join(', ')}`);
    }
  }
  return lines.join('\n');
}
