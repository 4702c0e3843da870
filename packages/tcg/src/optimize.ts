import { Op, evalCond, type CondCode, type IrBlock, type IrOp } from './ir.js';
import { umulh, smulh, divs, divu, bswap32, rotr } from './semantics.js';

/** Output operand positions (written temps) of an op. */
function outputs(o: IrOp): number[] {
  switch (o.op) {
    case Op.st: case Op.br: case Op.brcond: case Op.label: case Op.gotoTb: case Op.exitTb: case Op.insnStart: return [];
    case Op.mulu2: case Op.muls2: case Op.add2: case Op.sub2: return [0, 1];
    case Op.call: return o.args[0]! >= 0 ? [0] : [];
    default: return [0];
  }
}

/** Input operand positions (read temps) of an op. */
function inputs(o: IrOp): number[] {
  const n = o.args.length;
  switch (o.op) {
    case Op.br: case Op.label: case Op.gotoTb: case Op.exitTb: case Op.insnStart: return [];
    case Op.st: return [0, 1];
    case Op.ld: return [1];
    case Op.brcond: return [0, 1];
    case Op.setcond: return [1, 2];
    case Op.movcond: return [1, 2, 3, 4];
    case Op.mulu2: case Op.muls2: return [2, 3];
    case Op.add2: case Op.sub2: return [2, 3, 4, 5];
    case Op.call: return Array.from({ length: n - 2 }, (_, i) => i + 2);
    default: return Array.from({ length: n - 1 }, (_, i) => i + 1);
  }
}

function fold(op: number, x: number, y: number): number | undefined {
  switch (op) {
    case Op.mov: return x;
    case Op.add: return (x + y) | 0;
    case Op.sub: return (x - y) | 0;
    case Op.mul: return Math.imul(x, y);
    case Op.and: return x & y;
    case Op.or: return x | y;
    case Op.xor: return x ^ y;
    case Op.andc: return x & ~y;
    case Op.shl: return x << (y & 31);
    case Op.shr: return (x >>> (y & 31)) | 0;
    case Op.sar: return x >> (y & 31);
    case Op.rotr: return rotr(x, y & 31);
    case Op.divs: return divs(x, y);
    case Op.divu: return divu(x, y);
    case Op.not: return ~x;
    case Op.neg: return -x | 0;
    case Op.ext8s: return (x << 24) >> 24;
    case Op.ext8u: return x & 0xff;
    case Op.ext16s: return (x << 16) >> 16;
    case Op.ext16u: return x & 0xffff;
    case Op.bswap32: return bswap32(x);
    case Op.clz: return Math.clz32(x);
  }
  return undefined;
}

/**
 * Optimises a TB in place: constant folding and copy propagation in one
 * forward pass (knowledge is dropped at labels, where control merges, and for
 * globals at helper calls), then liveness-based dead-code elimination in one
 * backward pass (branches only go forward, so label liveness is known when a
 * branch is reached). Globals are live at every exit and call.
 */
export function optimizeBlock(b: IrBlock): IrBlock {
  propagate(b);
  eliminateDead(b);
  return b;
}

function propagate(b: IrBlock): void {
  const temps = b.temps;
  const constOf = new Map<number, number>();
  const copyOf = new Map<number, number>();
  const constTemp = new Map<number, number>();
  for (let i = 0; i < temps.length; i++) if (temps[i]!.kind === 'const') constTemp.set(temps[i]!.value | 0, i);
  const cnst = (v: number): number => {
    let t = constTemp.get(v | 0);
    if (t === undefined) {
      temps.push({ kind: 'const', value: v | 0, name: `$${v | 0}` });
      t = temps.length - 1;
      constTemp.set(v | 0, t);
    }
    return t;
  };
  const valueOf = (t: number): number | undefined => (temps[t]!.kind === 'const' ? temps[t]!.value | 0 : constOf.get(t));
  const forget = (t: number): void => {
    constOf.delete(t);
    copyOf.delete(t);
    for (const [k, s] of copyOf) if (s === t) copyOf.delete(k);
  };
  const forgetGlobals = (): void => {
    for (const k of [...constOf.keys()]) if (temps[k]!.kind === 'global') constOf.delete(k);
    for (const [k, s] of [...copyOf]) if (temps[k]!.kind === 'global' || temps[s]!.kind === 'global') copyOf.delete(k);
  };
  const out: IrOp[] = [];
  for (const o of b.ops) {
    if (o.op === Op.label) { constOf.clear(); copyOf.clear(); out.push(o); continue; }
    // Rewrite inputs: constants first, then copies.
    for (const k of inputs(o)) {
      const t = o.args[k]!;
      const c = valueOf(t);
      if (c !== undefined) o.args[k] = cnst(c);
      else if (copyOf.has(t)) o.args[k] = copyOf.get(t)!;
    }
    const a = o.args;
    let r: IrOp = o;
    if (o.op === Op.call) {
      if (a[0]! >= 0) forget(a[0]!);
      if (!b.helpers[a[1]!]!.pure) forgetGlobals();
      out.push(o);
      continue;
    }
    if (o.op === Op.brcond) {
      const x = valueOf(a[0]!), y = valueOf(a[1]!);
      if (x !== undefined && y !== undefined) {
        if (evalCond(a[2] as CondCode, x, y)) out.push({ op: Op.br, args: [a[3]!] });
        continue;
      }
      out.push(o);
      continue;
    }
    const outs = outputs(o);
    if (outs.length === 1 && o.op !== Op.ld) {
      const ins = inputs(o).map((k) => valueOf(a[k]!));
      let v: number | undefined;
      if (o.op === Op.setcond) {
        if (ins[0] !== undefined && ins[1] !== undefined) v = evalCond(a[3] as CondCode, ins[0], ins[1]) ? 1 : 0;
      } else if (o.op === Op.movcond) {
        if (ins[0] !== undefined && ins[1] !== undefined) {
          r = { op: Op.mov, args: [a[0]!, evalCond(a[5] as CondCode, ins[0], ins[1]) ? a[3]! : a[4]!] };
        }
      } else if (ins.every((x) => x !== undefined)) {
        v = fold(o.op, ins[0]!, ins[1] ?? 0);
      } else {
        r = simplify(o, ins, cnst);
      }
      if (v !== undefined) r = { op: Op.mov, args: [a[0]!, cnst(v)] };
    } else if (outs.length === 2 && (o.op === Op.mulu2 || o.op === Op.muls2)) {
      const x = valueOf(a[2]!), y = valueOf(a[3]!);
      if (x !== undefined && y !== undefined) {
        out.push({ op: Op.mov, args: [a[0]!, cnst(Math.imul(x, y))] });
        forget(a[0]!); constOf.set(a[0]!, Math.imul(x, y));
        r = { op: Op.mov, args: [a[1]!, cnst(o.op === Op.mulu2 ? umulh(x, y) : smulh(x, y))] };
      }
    }
    for (const k of outputs(r)) forget(r.args[k]!);
    if (r.op === Op.mov) {
      const d = r.args[0]!, s = r.args[1]!;
      if (d === s) continue;
      const c = valueOf(s);
      if (c !== undefined) constOf.set(d, c);
      // Propagate copies from locals (cheap to read); reading a global through a local is kept as is.
      else if (temps[s]!.kind === 'local' || temps[d]!.kind === 'global') copyOf.set(d, s);
    }
    out.push(r);
  }
  b.ops = out;
}

/** Algebraic identities with one constant operand. */
function simplify(o: IrOp, ins: (number | undefined)[], cnst: (v: number) => number): IrOp {
  const [d, x, y] = o.args as [number, number, number];
  const cx = ins[0], cy = ins[1];
  const mov = (s: number): IrOp => ({ op: Op.mov, args: [d, s] });
  switch (o.op) {
    case Op.add: case Op.or: case Op.xor:
      if (cy === 0) return mov(x);
      if (cx === 0) return mov(y);
      break;
    case Op.sub: case Op.shl: case Op.shr: case Op.sar: case Op.rotr:
      if (cy === 0) return mov(x);
      break;
    case Op.and:
      if (cy === 0 || cx === 0) return mov(cnst(0));
      if (cy === -1) return mov(x);
      if (cx === -1) return mov(y);
      break;
    case Op.mul:
      if (cy === 0 || cx === 0) return mov(cnst(0));
      if (cy === 1) return mov(x);
      if (cx === 1) return mov(y);
      break;
  }
  return o;
}

function eliminateDead(b: IrBlock): void {
  const temps = b.temps;
  const globals: number[] = [];
  temps.forEach((t, i) => { if (t.kind === 'global') globals.push(i); });
  // Drop unreachable ops after an unconditional exit or branch, up to the next label.
  const reachable: IrOp[] = [];
  let dead = false;
  for (const o of b.ops) {
    if (o.op === Op.label) dead = false;
    if (!dead) reachable.push(o);
    if (o.op === Op.br || o.op === Op.gotoTb || o.op === Op.exitTb) dead = true;
  }
  // A TB that loops on itself: the back edge needs only what the TB's start
  // reads (plus what the CPU loop reads if the TB is invalidated meanwhile).
  // Iterate down from "everything live" to a fixpoint.
  let edge = new Set<number>(globals);
  let result = liveness(b, reachable, globals, edge);
  if (b.loopSlot !== undefined) {
    for (let iter = 0; iter < 4; iter++) {
      const next = new Set<number>([...result.liveIn].filter((t) => temps[t]!.kind === 'global'));
      for (const t of b.loopLive ?? []) next.add(t);
      if (next.size === edge.size && [...next].every((t) => edge.has(t))) break;
      edge = next;
      result = liveness(b, reachable, globals, edge);
    }
  }
  b.ops = result.keep;
}

function liveness(b: IrBlock, ops: IrOp[], globals: number[], loopEdge: Set<number>): { keep: IrOp[]; liveIn: Set<number> } {
  const temps = b.temps;
  let live = new Set<number>(globals);
  const liveAtLabel = new Map<number, Set<number>>();
  const keep: IrOp[] = [];
  for (let i = ops.length - 1; i >= 0; i--) {
    const o = ops[i]!;
    switch (o.op) {
      case Op.label: liveAtLabel.set(o.args[0]!, new Set(live)); keep.push(o); continue;
      case Op.br: live = new Set(liveAtLabel.get(o.args[0]!) ?? globals); keep.push(o); continue;
      case Op.gotoTb: live = new Set(o.args[0] === b.loopSlot ? loopEdge : globals); keep.push(o); continue;
      case Op.exitTb: live = new Set(globals); keep.push(o); continue;
      case Op.brcond: for (const t of liveAtLabel.get(o.args[3]!) ?? globals) live.add(t); break;
      case Op.call: if (!b.helpers[o.args[1]!]!.pure || b.helpers[o.args[1]!]!.mayFault) for (const g of globals) live.add(g); break;
      // A load or store may fault: the signal handler sees (and may resume with) every register, so
      // writes before it are not dead even when the TB overwrites them later. (Cheap: the back end keeps
      // globals in locals, so this only keeps local assignments.)
      case Op.ld: case Op.st: for (const g of globals) live.add(g); break;
    }
    const outs = outputs(o);
    // A load may fault (SIGSEGV), so it stays even when its result is dead.
    const removable = outs.length > 0 && o.op !== Op.call && o.op !== Op.ld && outs.every((k) => !live.has(o.args[k]!));
    if (removable) continue;
    for (const k of outs) live.delete(o.args[k]!);
    for (const k of inputs(o)) if (temps[o.args[k]!]!.kind !== 'const') live.add(o.args[k]!);
    keep.push(o);
  }
  keep.reverse();
  return { keep, liveIn: live };
}
