import { Cond, Op, evalCond, newTemp, type CondCode, type IrBlock, type IrOp } from './ir.js';
import { umulh, smulh, divs, divu, bswap32, rotr } from './semantics.js';
import { neverOptimize } from './never-optimize.js';
import { inEnd, inStart, nOut } from './operands.js';

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
 * The value a load from a constant address reads, if it may be read now
 * (optimisation time) rather than when the TB runs; undefined otherwise.
 * TbCache allows it for pages nobody can write (literal pools, read-only
 * data) and invalidates the TB if that changes.
 */
export type ConstLoad = (addr: number, memop: number) => number | undefined;

/**
 * Optimises a TB in place: constant folding and copy propagation in one
 * forward pass (knowledge is dropped at labels, where control merges, and for
 * globals at helper calls), then liveness-based dead-code elimination in one
 * backward pass (branches only go forward, so label liveness is known when a
 * branch is reached). Globals are live at every exit and call. With
 * `constLoad`, loads from constant addresses it answers become constants.
 */
export function optimizeBlock(b: IrBlock, constLoad?: ConstLoad): IrBlock {
  propagate(b, constLoad);
  eliminateDead(b);
  return b;
}

const K_LOCAL = 0, K_GLOBAL = 1, K_CONST = 2;

/**
 * Known constants and copies, indexed by temp id. A copy d <- s holds while s
 * has not been written since: `copyGen[d] === gen[s]` (a write bumps gen[s]),
 * so forgetting a temp is O(1). `touched` lists what a label must clear.
 */
function propagate(b: IrBlock, constLoad: ConstLoad | undefined): void {
  const temps = b.temps, ops = b.ops;
  let cap = temps.length + 16;
  for (let i = 0; i < ops.length; i++) cap += ops[i]!.args.length + 2; // each op adds at most this many constants
  const kind = new Uint8Array(cap), hasC = new Uint8Array(cap), cval = new Int32Array(cap);
  const copy = new Int32Array(cap).fill(-1), copyGen = new Int32Array(cap), gen = new Int32Array(cap);
  const touched = new Int32Array(2 * ops.length + 2);
  let nTouched = 0;
  const globalTemps: number[] = [];
  const constTemp = new Map<number, number>();
  for (let i = 0; i < temps.length; i++) {
    const t = temps[i]!;
    if (t.kind === 'const') { kind[i] = K_CONST; hasC[i] = 1; cval[i] = t.value | 0; if (!constTemp.has(t.value | 0)) constTemp.set(t.value | 0, i); }
    else if (t.kind === 'global') { kind[i] = K_GLOBAL; globalTemps.push(i); }
  }
  const cnst = (v: number): number => {
    v |= 0;
    let t = constTemp.get(v);
    if (t === undefined) {
      t = temps.length;
      temps.push(newTemp('const', v, ''));
      kind[t] = K_CONST; hasC[t] = 1; cval[t] = v;
      constTemp.set(v, t);
    }
    return t;
  };
  const forget = (t: number): void => { hasC[t] = 0; copy[t] = -1; gen[t]++; };
  const setConst = (t: number, v: number): void => { hasC[t] = 1; cval[t] = v; touched[nTouched++] = t; };
  const setCopy = (d: number, s: number): void => { copy[d] = s; copyGen[d] = gen[s]!; touched[nTouched++] = d; };
  const out: IrOp[] = [];
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i]!, a = o.args;
    if (o.op === Op.label) {
      for (let k = 0; k < nTouched; k++) { const t = touched[k]!; if (kind[t] !== K_CONST) { hasC[t] = 0; copy[t] = -1; } }
      nTouched = 0;
      out.push(o);
      continue;
    }
    // Rewrite inputs: constants first, then copies.
    const e = inEnd(o);
    for (let k = inStart(o); k < e; k++) {
      const t = a[k]!;
      if (hasC[t]) { if (kind[t] !== K_CONST) a[k] = cnst(cval[t]!); }
      else { const s = copy[t]!; if (s >= 0 && copyGen[t] === gen[s]) a[k] = s; }
    }
    let r: IrOp = o;
    if (o.op === Op.call) {
      if (a[0]! >= 0) forget(a[0]!);
      if (!b.helpers[a[1]!]!.pure) for (let k = 0; k < globalTemps.length; k++) forget(globalTemps[k]!);
      out.push(o);
      continue;
    }
    if (o.op === Op.brcond) {
      if (hasC[a[0]!] && hasC[a[1]!]) {
        if (evalCond(a[2] as CondCode, cval[a[0]!]!, cval[a[1]!]!)) out.push({ op: Op.br, args: [a[3]!] });
        continue;
      }
      out.push(o);
      continue;
    }
    const outs = nOut(o);
    if (o.op === Op.ld) {
      if (constLoad !== undefined && hasC[a[1]!]) {
        const v = constLoad(cval[a[1]!]!, a[2]!);
        if (v !== undefined) r = { op: Op.mov, args: [a[0]!, cnst(v)] };
      }
    } else if (outs === 1) {
      const x = a[1]!, y = a.length > 2 ? a[2]! : -1;
      const hx = hasC[x] === 1, hy = y >= 0 && hasC[y] === 1;
      if (o.op === Op.setcond) {
        if (hx && hy) r = { op: Op.mov, args: [a[0]!, cnst(evalCond(a[3] as CondCode, cval[x]!, cval[y]!) ? 1 : 0)] };
        else if (hx || hy) { const k = unsignedBound(a[3]!, hx ? cval[x]! : undefined, hy ? cval[y]! : undefined); if (k >= 0) r = { op: Op.mov, args: [a[0]!, cnst(k)] }; }
      } else if (o.op === Op.movcond) {
        if (hx && hy) r = { op: Op.mov, args: [a[0]!, evalCond(a[5] as CondCode, cval[x]!, cval[y]!) ? a[3]! : a[4]!] };
      } else if (hx && (hy || a.length === 2)) {
        const v = fold(o.op, cval[x]!, hy ? cval[y]! : 0);
        if (v !== undefined) r = { op: Op.mov, args: [a[0]!, cnst(v)] };
      } else if (a.length === 3) {
        r = simplify(o, hx ? cval[x]! : undefined, hy ? cval[y]! : undefined, cnst);
      }
    } else if (outs === 2 && (o.op === Op.mulu2 || o.op === Op.muls2)) {
      const x = a[2]!, y = a[3]!;
      if (hasC[x] && hasC[y]) {
        const p = cval[x]!, q = cval[y]!, lo = Math.imul(p, q);
        out.push({ op: Op.mov, args: [a[0]!, cnst(lo)] });
        forget(a[0]!); setConst(a[0]!, lo);
        r = { op: Op.mov, args: [a[1]!, cnst(o.op === Op.mulu2 ? umulh(p, q) : smulh(p, q))] };
      }
    }
    const ro = nOut(r);
    for (let k = 0; k < ro; k++) forget(r.args[k]!);
    if (r.op === Op.mov) {
      const d = r.args[0]!, s = r.args[1]!;
      if (d === s) continue;
      if (hasC[s]) setConst(d, cval[s]!);
      // Propagate copies from locals (cheap to read); reading a global through a local is kept as is.
      else if (kind[s] === K_LOCAL || kind[d] === K_GLOBAL) setCopy(d, s);
    }
    out.push(r);
  }
  b.ops = out;
}

/**
 * An unsigned comparison against 0 that does not depend on the other operand
 * (x >=u 0, 0 <=u y: 1; x <u 0, 0 >u y: 0), else -1. The ARM front end's
 * carry of `cmp x, #0` / `subs x, x, #0` is such a setcond, in ~100 of gzip's
 * hot TBs: folded, it is less source for V8 to parse and compile.
 */
function unsignedBound(cond: number, cx: number | undefined, cy: number | undefined): number {
  if (cy === 0) return cond === Cond.geu ? 1 : cond === Cond.ltu ? 0 : -1;
  if (cx === 0) return cond === Cond.leu ? 1 : cond === Cond.gtu ? 0 : -1;
  return -1;
}

/** Algebraic identities with one constant operand. */
function simplify(o: IrOp, cx: number | undefined, cy: number | undefined, cnst: (v: number) => number): IrOp {
  const d = o.args[0]!, x = o.args[1]!, y = o.args[2]!;
  const mov = (s: number): IrOp => ({ op: Op.mov, args: [d, s] });
  // One operand twice (after copy propagation): the ARM front end's overflow
  // flag of `cmp x, #0` is (x ^ x) & ..., and `subs rd, rn, rn` / `ands rd, rn, rn` occur.
  if (x === y) {
    switch (o.op) {
      case Op.sub: case Op.xor: case Op.andc: return mov(cnst(0));
      case Op.and: case Op.or: return mov(x);
    }
  }
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
  const temps = b.temps, nt = temps.length;
  const globalsRow = new Uint8Array(nt);
  const isConst = new Uint8Array(nt);
  const globalIds: number[] = [];
  for (let i = 0; i < nt; i++) { const k = temps[i]!.kind; if (k === 'global') { globalsRow[i] = 1; globalIds.push(i); } else if (k === 'const') isConst[i] = 1; }
  // Drop unreachable ops after an unconditional exit or branch, up to the next label.
  const reachable: IrOp[] = [];
  let dead = false;
  const bops = b.ops;
  for (let i = 0; i < bops.length; i++) {
    const o = bops[i]!;
    if (o.op === Op.label) dead = false;
    if (!dead) reachable.push(o);
    if (o.op === Op.br || o.op === Op.gotoTb || o.op === Op.exitTb) dead = true;
  }
  // A TB that loops on itself leaves through its back edge too (an interrupt, or
  // its code written), and a signal handler then sees every register: so the
  // back edge, like every exit, needs all globals (a register the loop
  // overwrites before reading it still holds the last iteration's value).
  b.ops = liveness(b, reachable, globalsRow, Int32Array.from(globalIds), isConst, new Uint8Array(nt));
}

/** Backward liveness over forward branches; `live` ends as the live-in row. Returns the ops kept. */
function liveness(b: IrBlock, ops: IrOp[], globalsRow: Uint8Array, globalIds: Int32Array, isConst: Uint8Array, live: Uint8Array): IrOp[] {
  const nt = live.length;
  live.set(globalsRow);
  const liveAtLabel: (Uint8Array | null)[] = new Array<Uint8Array | null>(b.labels).fill(null);
  const keep: IrOp[] = [];
  const orInto = (row: Uint8Array): void => { for (let t = 0; t < nt; t++) live[t] |= row[t]!; };
  // The globals alone (at every load, store and impure call): a short list, not a row as long as all the temps.
  const globalsLive = (): void => { for (let k = 0; k < globalIds.length; k++) live[globalIds[k]!] = 1; };
  for (let i = ops.length - 1; i >= 0; i--) {
    const o = ops[i]!, a = o.args;
    switch (o.op) {
      case Op.label: liveAtLabel[a[0]!] = live.slice(); keep.push(o); continue;
      case Op.br: live.set(liveAtLabel[a[0]!] ?? globalsRow); keep.push(o); continue;
      case Op.gotoTb: case Op.exitTb: live.set(globalsRow); keep.push(o); continue;
      case Op.brcond: { const row = liveAtLabel[a[3]!]; if (row) orInto(row); else globalsLive(); break; }
      case Op.call: { const h = b.helpers[a[1]!]!; if (!h.pure || h.mayFault) globalsLive(); break; }
      // A load or store may fault: the signal handler sees (and may resume with) every register, so
      // writes before it are not dead even when the TB overwrites them later. (Cheap: the back end keeps
      // globals in locals, so this only keeps local assignments.)
      case Op.ld: case Op.st: globalsLive(); break;
    }
    const outs = nOut(o);
    // A load may fault (SIGSEGV), so it stays even when its result is dead.
    if (outs > 0 && o.op !== Op.call && o.op !== Op.ld && live[a[0]!] === 0 && (outs === 1 || live[a[1]!] === 0)) continue;
    for (let k = 0; k < outs; k++) live[a[k]!] = 0;
    const e = inEnd(o);
    for (let k = inStart(o); k < e; k++) if (isConst[a[k]!] === 0) live[a[k]!] = 1;
    keep.push(o);
  }
  keep.reverse();
  return keep;
}

// Translation-time code: kept out of TurboFan (see never-optimize.ts).
neverOptimize(propagate, eliminateDead, liveness);
