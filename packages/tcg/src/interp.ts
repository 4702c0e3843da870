import { Op, MemOp, evalCond, type CondCode, type IrBlock, type IrOp } from './ir.js';
import type { ExecEnv } from './backend-js.js';
import { EXIT_FAULT } from './memory.js';
import { umulh, smulh, divs, divu, bswap32, rotr, loadedValue } from './semantics.js';
import { neverOptimize } from './never-optimize.js';

const labelCache = new WeakMap<IrOp[], Map<number, number>>();
function labelsOf(b: IrBlock): Map<number, number> {
  let m = labelCache.get(b.ops);
  if (!m) {
    m = new Map();
    for (let i = 0; i < b.ops.length; i++) if (b.ops[i]!.op === Op.label) m.set(b.ops[i]!.args[0]!, i);
    labelCache.set(b.ops, m);
  }
  return m;
}

/**
 * Reference interpreter for a TB's IR. Slow and obviously correct; tests run
 * the same IR here and through the JS back end and compare the results.
 * Returns what the compiled TB would return. With `reach` (one byte per op),
 * marks each instruction start it runs (TbCache: code never reached before a
 * TB gets hot is left out of its compiled form).
 */
export function interpretBlock(b: IrBlock, env: ExecEnv, reach?: Uint8Array): number {
  const vals = new Int32Array(b.temps.length);
  const R = env.regs, mem = env.mem;
  // Looked up at the first branch taken: most cold TBs run straight through (a WeakMap lookup per run cost ~2% of gzip's CPU).
  let labelAt: Map<number, number> | null = null;
  const get = (t: number): number => {
    const tp = b.temps[t]!;
    return tp.kind === 'const' ? tp.value | 0 : tp.kind === 'global' ? R[tp.value]! : vals[t]!;
  };
  const set = (t: number, x: number): void => {
    const tp = b.temps[t]!;
    if (tp.kind === 'global') R[tp.value] = x;
    else if (tp.kind === 'local') vals[t] = x;
    else throw new Error('write to a constant temp');
  };
  let insns = 0, insnPc = 0;
  const counter = env.countInsns === false ? undefined : env.insnCounter;
  // A faulting access (or helper) stops the block like the compiled code does.
  const fault = (): number => {
    mem.faultPc = insnPc;
    if (counter) counter[0] += insns - 1;
    return EXIT_FAULT;
  };
  for (let pc = 0; pc < b.ops.length; pc++) {
    const o = b.ops[pc]!, a = o.args;
    switch (o.op) {
      case Op.insnStart: insns++; insnPc = a[0]! >>> 0; if (reach !== undefined) reach[pc] = 1; break;
      case Op.mov: set(a[0]!, get(a[1]!)); break;
      case Op.add: set(a[0]!, (get(a[1]!) + get(a[2]!)) | 0); break;
      case Op.sub: set(a[0]!, (get(a[1]!) - get(a[2]!)) | 0); break;
      case Op.mul: set(a[0]!, Math.imul(get(a[1]!), get(a[2]!))); break;
      case Op.and: set(a[0]!, get(a[1]!) & get(a[2]!)); break;
      case Op.or: set(a[0]!, get(a[1]!) | get(a[2]!)); break;
      case Op.xor: set(a[0]!, get(a[1]!) ^ get(a[2]!)); break;
      case Op.andc: set(a[0]!, get(a[1]!) & ~get(a[2]!)); break;
      case Op.shl: set(a[0]!, get(a[1]!) << (get(a[2]!) & 31)); break;
      case Op.shr: set(a[0]!, (get(a[1]!) >>> (get(a[2]!) & 31)) | 0); break;
      case Op.sar: set(a[0]!, get(a[1]!) >> (get(a[2]!) & 31)); break;
      case Op.rotr: set(a[0]!, rotr(get(a[1]!), get(a[2]!) & 31)); break;
      case Op.divs: set(a[0]!, divs(get(a[1]!), get(a[2]!))); break;
      case Op.divu: set(a[0]!, divu(get(a[1]!), get(a[2]!))); break;
      case Op.not: set(a[0]!, ~get(a[1]!)); break;
      case Op.neg: set(a[0]!, -get(a[1]!) | 0); break;
      case Op.ext8s: set(a[0]!, (get(a[1]!) << 24) >> 24); break;
      case Op.ext8u: set(a[0]!, get(a[1]!) & 0xff); break;
      case Op.ext16s: set(a[0]!, (get(a[1]!) << 16) >> 16); break;
      case Op.ext16u: set(a[0]!, get(a[1]!) & 0xffff); break;
      case Op.bswap32: set(a[0]!, bswap32(get(a[1]!))); break;
      case Op.clz: set(a[0]!, Math.clz32(get(a[1]!))); break;
      case Op.setcond: set(a[0]!, evalCond(a[3] as CondCode, get(a[1]!), get(a[2]!)) ? 1 : 0); break;
      case Op.movcond: set(a[0]!, evalCond(a[5] as CondCode, get(a[1]!), get(a[2]!)) ? get(a[3]!) : get(a[4]!)); break;
      case Op.mulu2: case Op.muls2: {
        const x = get(a[2]!), y = get(a[3]!);
        const hi = o.op === Op.mulu2 ? umulh(x, y) : smulh(x, y);
        set(a[0]!, Math.imul(x, y)); set(a[1]!, hi); break;
      }
      case Op.add2: case Op.sub2: {
        const al = BigInt(get(a[2]!) >>> 0) | (BigInt(get(a[3]!)) << 32n);
        const bl = BigInt(get(a[4]!) >>> 0) | (BigInt(get(a[5]!)) << 32n);
        const r = BigInt.asIntN(64, o.op === Op.add2 ? al + bl : al - bl);
        set(a[0]!, Number(BigInt.asIntN(32, r))); set(a[1]!, Number(BigInt.asIntN(32, r >> 32n))); break;
      }
      case Op.ld: {
        const addr = get(a[1]!), mo = a[2]!, size = mo & MemOp.sizeMask;
        if ((mo & MemOp.align && addr & ((1 << size) - 1)) || (mo & MemOp.align8 && addr & 7)) { mem.alignFault(addr); return fault(); }
        const x = size === 0 ? mem.ld8(addr) : size === 1 ? mem.ld16(addr) : mem.ld32(addr);
        if (mem.fk !== 0) return fault();
        set(a[0]!, loadedValue(x, mo)); break;
      }
      case Op.st: {
        const addr = get(a[1]!), mo = a[2]!, size = mo & MemOp.sizeMask;
        let x = get(a[0]!);
        if (mo & MemOp.bswap) x = size === 1 ? ((x & 0xff) << 8) | ((x >>> 8) & 0xff) : size === 2 ? bswap32(x) : x;
        if ((mo & MemOp.align && addr & ((1 << size) - 1)) || (mo & MemOp.align8 && addr & 7)) { mem.alignFault(addr); return fault(); }
        if (size === 0) mem.st8(addr, x); else if (size === 1) mem.st16(addr, x); else mem.st32(addr, x);
        if (mem.fk !== 0) return fault();
        break;
      }
      case Op.br: pc = (labelAt ??= labelsOf(b)).get(a[0]!)!; break;
      case Op.brcond: if (evalCond(a[2] as CondCode, get(a[0]!), get(a[1]!))) pc = (labelAt ??= labelsOf(b)).get(a[3]!)!; break;
      case Op.label: break;
      case Op.call: {
        const h = b.helpers[a[1]!]!;
        const r = h.fn(...a.slice(2).map(get));
        if (a[0]! >= 0) set(a[0]!, (r as number) | 0);
        if (h.mayFault && mem.fk !== 0) return fault();
        break;
      }
      case Op.gotoTb: case Op.exitTb: if (counter) counter[0] += insns; return a[0]!;
      default: throw new Error(`interpreter: unknown op ${o.op}`);
    }
  }
  if (counter) counter[0] += insns;
  return -1;
}

// Translation-time code: kept out of TurboFan (see never-optimize.ts).
neverOptimize(interpretBlock);
