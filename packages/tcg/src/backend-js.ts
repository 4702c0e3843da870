import { Op, MemOp, type IrBlock, type IrOp } from './ir.js';
import { EXIT_FAULT, MEMORY_FAULT, type GuestMemory } from './memory.js';
import { umulh, smulh, divs, divu } from './semantics.js';
import { neverOptimize } from './never-optimize.js';
import { inEnd, inStart, nOut, writesTemp } from './operands.js';

/** What generated code runs against: the CPU state array and guest memory. */
export interface ExecEnv {
  regs: Int32Array;
  mem: GuestMemory;
  /**
   * Guest instruction counter: generated code adds, at each exit, the number of
   * guest instructions the TB ran on its path to that exit (exact, also on a
   * path that jumped forward over whole instructions; see countPlan).
   */
  insnCounter?: Float64Array;
  /**
   * false: compiled TBs do not count guest instructions (no counter update at
   * their exits and back edges: 3-5% of a run's instructions, icount awk and
   * gzip). TbCache's `countInsns` option sets it; counting is on by default.
   */
  countInsns?: boolean;
  /** Set by TbCache with its `directChain` option: compiled TBs then call their chained successors directly. */
  chainState?: ChainState;
  /**
   * TbCache's interrupt word (non-zero: a signal came in). A TB that loops on
   * itself leaves the loop when it is set, so the dispatcher sees it even in a
   * loop that never returns to the dispatcher otherwise.
   */
  interrupt?: Int32Array;
  /**
   * JavaScript expressions over `R` (the state array) for the (pc, flags)
   * key a TB cache looks the next TB up by (TbCache sets it from its front
   * end). With it, an indirect exit of a linked TB first checks a four-entry
   * cache of its last targets (see generateSource).
   */
  lookupKey?: { pc: string; flags: string };
}

/**
 * Shared between the dispatcher and compiled TBs for direct chaining. A TB
 * whose goto_tb slot is chained calls the successor itself (`return n.fn()`)
 * while `depth` lasts: each such call site always goes to the same function,
 * so the CPU can predict it, where the dispatcher's one call site with hundreds
 * of targets costs 15-25 ns a transition. Whoever returns a slot (>= 0) to the
 * dispatcher stores itself in `last`, since it may be a TB nested deep below
 * the one the dispatcher called.
 */
export interface ChainState {
  last: unknown;
  depth: number;
}

/** What a TB must offer to be chained from generated code. */
interface ChainSelf {
  valid: boolean;
  links?: ({ valid: boolean; fn: () => unknown } | null)[];
}

/** A compiled TB: returns >= 0 for a chainable exit slot, < 0 for an exit code. */
export type TbFunction = () => number;
/**
 * A compiled TB of a TbCache (`self` with `links`): at a chained exit whose
 * successor is linked it returns that successor itself (the caller checks it
 * is still valid), so the dispatcher's step is `tb = r` instead of a lookup
 * in `tb.links` (a chain of dependent loads after every call); likewise an
 * indirect exit that hits the TB's four-entry cache (`ExecEnv.lookupKey`).
 * Otherwise a slot or exit code as above.
 */
export type LinkedTbFunction<T> = () => number | T;

/**
 * The older entries of a TB's indirect-exit cache (`ind`/`ipc`/`ifl` is the
 * newest, tested inline): three more (target, pc, flags), filled first in
 * first out by the dispatcher. flags -1 never matches (TB flags are >= 0).
 */
export interface IndirectCache {
  i1: unknown; p1: number; f1: number;
  i2: unknown; p2: number; f2: number;
  i3: unknown; p3: number; f3: number;
}

/**
 * An indirect exit that missed its inline entry: one shared function (so its
 * type feedback comes from every TB and it is optimised early, then inlined
 * into the TBs) checks the older entries; returns the cached TB or
 * EXIT_LOOKUP (-1). awk: 6.6 M of 23.7 M indirect exits miss one entry, 0.7 M
 * miss four (returns of functions called from several places).
 */
export function indirectLookup(t: IndirectCache, pc: number, fl: number): unknown {
  if (((t.p1 ^ pc) | (t.f1 ^ fl)) === 0) return t.i1;
  if (((t.p2 ^ pc) | (t.f2 ^ fl)) === 0) return t.i2;
  if (((t.p3 ^ pc) | (t.f3 ^ fl)) === 0) return t.i3;
  return -1;
}

const CMP = ['===', '!==', '<', '>=', '<=', '>', '<', '>=', '<=', '>'];

/**
 * Compiles a TB's IR to JavaScript once. Temps are `let` locals, globals are
 * slots of the state Int32Array, values stay int32 (`|0`, Math.imul). Forward
 * branches become `break` out of labelled blocks opened at the top of the
 * function (later labels outermost), so any forward branch pattern nests.
 */
export function compileBlock(b: IrBlock, env: ExecEnv): TbFunction;
export function compileBlock<T extends ChainSelf>(b: IrBlock, env: ExecEnv, self: T): LinkedTbFunction<T>;
export function compileBlock(b: IrBlock, env: ExecEnv, self: ChainSelf = { valid: true }): TbFunction {
  const chain = env.chainState !== undefined && self.links !== undefined;
  const src = generateSource(b, chain, !chain && self.links !== undefined, env.lookupKey, env.countInsns !== false);
  const factory = new Function('R', 'm', 'H', 'umulh', 'smulh', 'divs', 'divu', 'SELF', 'CTR', 'X', 'INT',
    'M8', 'S8', 'M16', 'S16', 'M32', 'NR', 'NW', 'IL', 'MF', src) as (...a: unknown[]) => TbFunction;
  const m = env.mem;
  return factory(env.regs, m, b.helpers.map((h) => h.fn), umulh, smulh, divs, divu, self, env.insnCounter ?? new Float64Array(1),
    env.chainState, env.interrupt ?? new Int32Array(1), m.u8, m.i8, m.u16, m.i16, m.i32, m.noRead, m.noWrite, indirectLookup, MEMORY_FAULT);
}

/**
 * Globals are cached in locals (`g<slot>`) for the whole TB: loaded once at
 * entry, written back at every exit and around helpers that may touch the CPU
 * state. A goto_tb back to the TB's own start (b.loopSlot) becomes a JS loop.
 * `chain`: direct chaining (ChainState); `linked`: return linked successors
 * (LinkedTbFunction), and with `key` the indirect-exit cache too. `counting`
 * false leaves out the guest instruction count (CTR and its bookkeeping).
 */
export function generateSource(b: IrBlock, chain = false, linked = false, key?: { pc: string; flags: string }, counting = true): string {
  const temps = b.temps;
  const v = (i: number): string => {
    const t = temps[i]!;
    if (t.kind === 'const') return t.value < 0 ? `(${t.value})` : String(t.value);
    if (t.kind === 'global') return wt[t.value] ? `R[${t.value}]` : `g${t.value}`;
    return `t${i}`;
  };
  const u = (i: number): string => {
    const t = temps[i]!;
    if (t.kind === 'const') return String(t.value >>> 0);
    return `(${v(i)}>>>0)`;
  };
  // Locals and global slots the code touches (rows indexed by temp id / slot).
  const nt = temps.length;
  const usedRow = new Uint8Array(nt);
  let maxSlot = 0;
  for (let t = 0; t < nt; t++) if (temps[t]!.kind === 'global' && temps[t]!.value > maxSlot) maxSlot = temps[t]!.value;
  const slotUsed = new Uint8Array(maxSlot + 1);
  const bops = b.ops;
  for (let i = 0; i < bops.length; i++) {
    const o = bops[i]!, op = o.op, args = o.args;
    if (op === Op.label || op === Op.br || op === Op.gotoTb || op === Op.exitTb || op === Op.insnStart) continue;
    const n = op === Op.setcond ? 3 : op === Op.movcond ? 5 : op === Op.ld || op === Op.st || op === Op.brcond ? 2 : args.length;
    for (let k = 0; k < n; k++) {
      if (op === Op.call && k === 1) continue; // the helper index
      const a = args[k]!;
      if (a < 0) continue;
      const t = temps[a]!;
      if (t.kind === 'local') usedRow[a] = 1;
      else if (t.kind === 'global') slotUsed[t.value] = 1;
    }
  }
  const wt = writeThrough(b, maxSlot);
  let locals = '';
  for (let t = 0; t < nt; t++) if (usedRow[t]) locals += `${locals ? ',' : 'let '}t${t}=0`;
  // Strings built in plain loops: `arr.map(...).join()` here kept deoptimising
  // generateSource ("wrong map": the mapped array's elements kind varies).
  let reload = '', writeAll = '', decl = '';
  for (let g = 0; g <= maxSlot; g++) {
    if (!slotUsed[g] || wt[g]) continue;
    reload += `g${g}=R[${g}];`;
    writeAll += `R[${g}]=g${g};`;
    decl += `${decl ? ',' : 'let '}g${g}=R[${g}]`;
  }
  const wb = writeBacks(b, wt);
  const out: string[] = ['"use strict";'];
  // The memory views M8 S8 M16 S16 M32 NR NW are parameters of the factory
  // (compileBlock): V8 folds them into optimised TBs as constants, like a
  // `const` there, but on-stack-replacement code also had to check a `const`
  // for the hole (TDZ) at every read in every iteration (--print-opt-code);
  // a parameter is never a hole. (`var` lost the constant folding.)
  // Only what the TB's exits need (less code for V8 to compile): links for goto_tb, the cache for exit_tb(EXIT_LOOKUP).
  let hasGoto = false, hasLookup = false;
  for (let i = 0; i < bops.length; i++) {
    const o = bops[i]!;
    if (o.op === Op.gotoTb) hasGoto = true;
    else if (o.op === Op.exitTb && o.args[0] === -1) hasLookup = true;
  }
  if (chain || (linked && hasGoto)) out.push('const LK=SELF.links;');
  for (let i = 0; i < b.helpers.length; i++) out.push(`const h${i}=H[${i}];`);
  // Parenthesised: V8 compiles it with the factory instead of pre-parsing it now and parsing it again at its first call.
  // Named after the guest pc of its first instruction, so profilers and --trace-opt tell TBs apart.
  let name = 'tb';
  for (let i = 0; i < bops.length; i++) if (bops[i]!.op === Op.insnStart) { name = `tb_${(bops[i]!.args[0]! >>> 0).toString(16)}`; break; }
  out.push(`return (function ${name}(){`);
  if (locals) out.push(locals + ';');
  if (decl) out.push(decl + ';');
  // `n`: the instructions counted at an exit (see countPlan), set (not added)
  // right before leaving for a tail or the fault exit. A constant store needs
  // no type feedback, where an `ic+=k` on a path V8 never saw run deoptimises
  // the TB the first time it is taken (a side exit first taken after TurboFan
  // compiled the TB), and every such deopt costs a recompile (~6 ms of TurboFan).
  // (Not planned at all without counting: the slow paths' `n` is then unused.)
  const plan = counting ? countPlan(b) : null;
  let bdecl = '', bsum = '';
  if (plan !== null) for (let j = 0; j < plan.nb; j++) { bdecl += `,b${j}=0`; bsum += `+b${j}`; }
  out.push(`let ${counting ? 'ic=0,' : ''}fpc=0,x=0${counting ? ',n=0' : ''}${bdecl}${b.loopSlot !== undefined ? ',sp=0' : ''};`);
  // Every fault leaves through one shared exit after this block (small code: the
  // hot paths stay compact); it writes back all the globals the TB caches.
  // Exits share tails too: one per distinct write-back set (`x` = the return
  // value, break Xk), opened here around everything once they are known.
  const openAt = out.length;
  out.push('FLT:{try{');
  const tails: string[] = [];
  const tailOf = new Map<string, number>();
  const exit = (writeBack: string, code: number): string => {
    let k = tailOf.get(writeBack);
    if (k === undefined) { k = tails.length; tails.push(writeBack); tailOf.set(writeBack, k); }
    return `x=${code};break X${k};`;
  };
  const loop = b.loopSlot !== undefined;
  // Labels in order of position; open blocks so that later labels are outer.
  const labelPos: number[] = [];
  for (let i = 0; i < bops.length; i++) if (bops[i]!.op === Op.label) labelPos.push(bops[i]!.args[0]!);
  for (let k = labelPos.length - 1; k >= 0; k--) out.push(`L${labelPos[k]}:{`);
  const seen = new Set<number>();
  // Exact instruction counting, planned (see countPlan): exits set `n` to a
  // constant, the taken side of a branch adds nothing, or, when its label is
  // reached with another count, stores a constant correction in a `b<k>`;
  // so the counting never puts
  // arithmetic on a side first taken after TurboFan compiled the TB (an
  // `ic+=k` there, "insufficient type feedback for binary operation", was ~9
  // of gzip's ~10 TB deopts, each one a second TurboFan compile). The shared
  // end adds `ic+n+b0+...`; `ic` sums a self-loop's finished iterations.
  let cur = 0;
  const edge = (i: number): string => (plan === null || plan.vb[i]! < 0 ? '' : `b${plan.vb[i]}=${plan.corr[i]};`);
  const count = (): string => (counting ? `CTR[0]+=ic+${cur}${bsum};` : '');
  const last = (): string => (counting && cur ? `n=${cur};` : '');
  // Guest pc of the current instruction, for precise faults: a faulting access
  // writes the registers back as they were before the instruction's own
  // writes (translators write registers after their loads and stores), and
  // leaves with EXIT_FAULT; the instruction did not complete, so it is not counted.
  let pc = 0;
  // (`n` may be -1: a fault right after a label inside its instruction.)
  const faultAt = (_i: number): string => `{fpc=${pc};${counting && cur !== 1 ? `n=${cur - 1};` : ''}break FLT;}`;
  // A slow path's (pc, instructions done before it) for GuestMemory's throwing loads and stores.
  const site = (): string => `${pc},${plan === null ? 0 : cur - 1}`;
  const groups = accessGroups(b);
  for (let i = 0; i < b.ops.length; i++) {
    const o = b.ops[i]!;
    cur = plan === null ? 0 : plan.off[i]!;
    if (groups.end[i]! > i) {
      out.push(emitGroup(b, groups, i, v, u, faultAt(i), loop ? 'sp=1;' : '', site()));
      i = groups.end[i]!;
      continue;
    }
    if (o.op === Op.br || o.op === Op.brcond) {
      const l = o.args[o.op === Op.br ? 0 : 3]!;
      if (seen.has(l)) throw new Error(`backward branch to L${l} is not supported by the JS back end`);
    }
    switch (o.op) {
      case Op.label: seen.add(o.args[0]!); out.push('}'); continue;
      case Op.br: out.push(`${edge(i)}break L${o.args[0]};`); continue;
      case Op.brcond: {
        const a = o.args;
        out.push(`if(${cmp(a[2]!, a[0]!, a[1]!, v, u)}){${edge(i)}break L${a[3]};}`);
        continue;
      }
      case Op.insnStart: pc = o.args[0]! >>> 0; continue; // no comment: every byte is parsed
      case Op.gotoTb: {
        // Direct chaining: the successor runs from here (its registers come from R, so write back first).
        const k = o.args[0]!;
        const leave = chain ? `{const n=LK[${k}];if(n!==null&&n.valid&&--X.depth>0)return n.fn();}X.last=SELF;return ${k};` : `return ${k};`;
        if (loop && k === b.loopSlot) {
          // The back edge: go round again unless the TB was invalidated (its
          // code written) or a signal came in; the count is added at exits.
          // Only a store's slow path or a helper can write code and so invalidate
          // this TB while it runs (`sp` records that one ran): the loop reads
          // SELF.valid only then, and compares it with true (a bare truthiness
          // test compiled to a generic ToBoolean, ~12 instructions per iteration).
          // With planned counts the iteration's b<j> are folded in and cleared (a
          // label is passed at most once per iteration); this edge is hot, so
          // its additions have type feedback.
          const add = plan === null ? '' : plan.nb ? `ic+=${cur}${bsum};${bsum.replace(/\+(b\d+)/g, '$1=0;')}` : cur ? `ic+=${cur};` : '';
          out.push(`${add}if((sp===0||SELF.valid===true)&&INT[0]===0)continue loop;`);
          out.push(chain ? `${counting ? 'CTR[0]+=ic;' : ''}${wb[i]}${leave}` : exit(wb[i]!, k));
        } else out.push(chain ? `${count()}${wb[i]}${leave}` : `${last()}${exit(wb[i]!, k)}`);
        continue;
      }
      case Op.exitTb: out.push(`${last()}${exit(wb[i]!, o.args[0]!)}`); continue;
      case Op.call: {
        const h = b.helpers[o.args[1]!]!;
        const check = (loop && (!h.pure || h.mayFault) ? 'sp=1;' : '') + (h.mayFault ? `if(m.fk!==0)${faultAt(i)}` : '');
        if (!h.pure) {
          out.push(wb[i]! + emitOp(o, (i) => (temps[i]!.kind === 'global' ? `R[${temps[i]!.value}]` : v(i)), u) + reload + check);
          continue;
        }
        out.push(emitOp(o, v, u) + check);
        continue;
      }
      case Op.ld: out.push(emitOp(o, v, u, faultAt(i), '', site())); continue;
      case Op.st: out.push(emitOp(o, v, u, faultAt(i), loop ? 'sp=1;' : '', site())); continue;
    }
    out.push(emitOp(o, v, u));
  }
  cur = plan === null ? 0 : plan.off[b.ops.length]!;
  // A slow load or store that faults throws MEMORY_FAULT (GuestMemory.l32 etc.)
  // with the instruction's pc and count; every global local still holds its
  // value from before that instruction, as at a `break FLT`.
  out.push(`${last()}${exit(wb[b.ops.length]!, -1)}}catch(e){if(e!==MF)throw e;fpc=m.faultPc;${counting ? 'n=m.faultN;' : ''}}}`);
  out.push(`${writeAll}m.faultPc=fpc;${counting ? `CTR[0]+=ic+n${bsum};` : ''}return ${EXIT_FAULT};`);
  // Tails write back, then leave the RET block for the one return sequence.
  let open = 'RET:{';
  for (let k = tails.length - 1; k >= 0; k--) open += `X${k}:{`;
  // A self-loop is the outermost statement, exit tails and returns included:
  // V8 keeps on-stack-replacement code when a deopt happens outside the OSR'd
  // loop, so a tail first run after OSR (no type feedback yet) deoptimised the
  // same code again at every later entry of the TB; inside the loop, the first
  // deopt discards it.
  out[openAt] = (loop ? 'loop:for(;;){' : '') + open + out[openAt];
  // Linked: a chained exit hands the dispatcher its successor TB (the
  // dispatcher checks it is still valid: a property read here would deoptimise
  // the TB the first time an exit linked late is taken).
  // An indirect exit (x -1, the registers written back) returns the TB the
  // dispatcher found last time for this TB if the key still matches (QEMU's
  // lookup_and_goto_ptr, with a small cache per TB: returns mostly go back
  // to one of a few callers); the newest entry is tested inline. `ind` is
  // read before the test so its load always has type feedback by the time V8
  // optimises the TB.
  // Both halves of the key test always run (no `&&`): a right-hand side first
  // reached after optimisation had no feedback and deoptimised the TB, again
  // and again in OSR code (kernels: 7 deopts of one TB per run).
  // A miss goes on to the older entries (IL, indirectLookup), with the key computed once.
  const ind = key && hasLookup ? `if(x===-1){const s=SELF.ind,p=${key.pc},f=${key.flags};if(((SELF.ipc^p)|(SELF.ifl^f))===0)return s;return IL(SELF,p,f);}` : '';
  const ret = linked ? `${hasGoto ? 'if(x>=0){const s=LK[x];if(s!==null)return s;}' : ''}${ind}return x;` : 'return x;';
  for (let k = 0; k < tails.length; k++) out.push(`}${tails[k]}${k < tails.length - 1 ? 'break RET;' : ''}`);
  out.push(`}${counting ? `CTR[0]+=ic+n${bsum};` : ''}${ret}`);
  out.push(loop ? '}});' : '});');
  return out.join('\n');
}

/**
 * Where the guest instruction count stands before each op (index
 * b.ops.length: the end), as counted along the code in op order: +1 at each
 * live insn_start; a label takes the count of the code falling into it, or,
 * reached by jumps only, that of its first jump. A jump that arrives with
 * another count needs a correction, `corr[i]` (its count minus the label's),
 * stored as a constant in a count variable `b<k>` (`vb[i]` = k, else -1) on
 * that edge; the count at any point is then `off + b0 + b1 + ...`.
 * Jumps never taken on one path share a variable (one that is still 0
 * wherever such a jump leaves): a computed jump into an unrolled loop (glibc's
 * memcpy) has 39 entry labels, each reached by the fall-through of the copy
 * before it and by a jump from the dispatch, and one variable serves them all,
 * where one per label kept 39 values alive to the end (~32 ms of TurboFan for
 * that TB in busybox awk).
 */
function countPlan(b: IrBlock): { off: Int32Array; vb: Int32Array; corr: Int32Array; nb: number } {
  const ops = b.ops, n = ops.length, off = new Int32Array(n + 1);
  const vb = new Int32Array(n).fill(-1), corr = new Int32Array(n);
  // Per label: its count (-1: not known yet), and the jumps into it (op index, count there).
  const lab = new Int32Array(b.labels).fill(-1);
  const into: number[][] = Array.from({ length: b.labels }, () => []);
  let c = 0, live = true;
  for (let i = 0; i < n; i++) {
    const o = ops[i]!, op = o.op;
    if (op === Op.label) {
      const l = o.args[0]!, jumps = into[l]!;
      lab[l] = live ? c : jumps.length > 0 ? jumps[1]! : 0;
      c = lab[l]!; live = true; off[i] = c;
      for (let k = 0; k < jumps.length; k += 2) corr[jumps[k]!] = jumps[k + 1]! - c;
      continue;
    }
    off[i] = c;
    if (!live) continue;
    if (op === Op.insnStart) c++;
    else if (op === Op.br || op === Op.brcond) {
      into[o.args[op === Op.br ? 0 : 3]!]!.push(i, c);
      if (op === Op.br) live = false;
    } else if (op === Op.gotoTb || op === Op.exitTb) live = false;
  }
  off[n] = c;
  // Variables, greedily: a jump may share one with earlier jumps (in op order)
  // that all land after it, so no path takes two of them before the end (or a
  // self-loop's back edge, which clears them).
  const landsAt: number[][] = []; // per variable: the op index of the label each of its jumps lands at
  let nb = 0;
  for (let i = 0; i < n; i++) {
    if (corr[i] === 0) continue;
    const o = ops[i]!, l = o.args[o.op === Op.br ? 0 : 3]!;
    let k = 0;
    for (; k < nb; k++) if (allAfter(landsAt[k]!, i)) break;
    if (k === nb) { landsAt.push([]); nb++; }
    landsAt[k]!.push(labelIndex(ops, l, i));
    vb[i] = k;
  }
  return { off, vb, corr, nb };
}

function allAfter(at: readonly number[], i: number): boolean {
  for (let k = 0; k < at.length; k++) if (at[k]! <= i) return false;
  return true;
}

/** Op index of label `l`'s op, searching forward from `from` (jumps are forward). */
function labelIndex(ops: readonly IrOp[], l: number, from: number): number {
  for (let i = from + 1; i < ops.length; i++) if (ops[i]!.op === Op.label && ops[i]!.args[0] === l) return i;
  return ops.length;
}

/**
 * Globals a TB writes but never reads (not in self-loops): stored straight
 * into `R` where the IR writes them (`R[15]=t60;`) instead of cached in a
 * local that is loaded at entry and written back at every exit. A hot TB
 * such as a function epilogue writes PC, flags and scratch registers it never
 * reads (awk's `free` tail: 6 of its 8 globals); the entry load existed only
 * so the shared fault exit could write the old value back. Faults stay
 * precise: translators write an instruction's registers after its memory
 * accesses, so R holds exactly the writes of completed instructions.
 */
function writeThrough(b: IrBlock, maxSlot: number): Uint8Array {
  const wt = new Uint8Array(maxSlot + 1);
  if (b.loopSlot !== undefined) return wt; // a loop keeps its registers in locals across iterations
  const temps = b.temps, ops = b.ops, read = new Uint8Array(maxSlot + 1), writes = new Uint8Array(maxSlot + 1);
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i]!, a = o.args;
    const outs = nOut(o), e = inEnd(o);
    for (let k = 0; k < outs; k++) {
      const tt = temps[a[k]!]!;
      if (tt.kind === 'global') {
        wt[tt.value] = 1;
        if (writes[tt.value]! < 2) writes[tt.value]!++;
      }
    }
    for (let k = inStart(o); k < e; k++) {
      const t = a[k]!;
      if (t >= 0 && temps[t]!.kind === 'global') read[temps[t]!.value] = 1;
    }
  }
  // Written more than once (flags set by several instructions, live at the
  // side exits between them): each write would be a store to R where a local
  // costs a register move; gzip ran ~3.5% slower with those written through.
  for (let g = 0; g <= maxSlot; g++) if (read[g] || writes[g]! > 1) wt[g] = 0;
  return wt;
}

/**
 * The write-back code (`R[s]=gs;` for each CPU-state slot that may hold a
 * value not yet written back: written on some path from the TB start, or from
 * the previous iteration of a self-loop) at each exit and impure call, indexed
 * by op position (b.ops.length: the fall-through end). Dirty sets are byte
 * rows over the globals the TB writes, so this allocates per label, not per op.
 * Write-through slots (`wt`) are left out: they are never dirty.
 */
function writeBacks(b: IrBlock, wt: Uint8Array): string[] {
  const temps = b.temps, ops = b.ops, nt = temps.length;
  // Dense index (in slot order) of each written global temp, -1 for others.
  const dense = new Int32Array(nt).fill(-1);
  const slots: number[] = [];
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i]!;
    const n = nOut(o);
    for (let k = 0; k < n; k++) {
      const t = o.args[k]!;
      if (t >= 0 && temps[t]!.kind === 'global' && wt[temps[t]!.value] !== 1 && !slots.includes(temps[t]!.value)) slots.push(temps[t]!.value);
    }
  }
  slots.sort((x, y) => x - y);
  for (let t = 0; t < nt; t++) if (temps[t]!.kind === 'global') dense[t] = slots.indexOf(temps[t]!.value);
  const G = slots.length;
  const text = (row: Uint8Array | null): string => {
    let r = '';
    if (row) for (let g = 0; g < G; g++) if (row[g]) r += `R[${slots[g]}]=g${slots[g]};`;
    return r;
  };
  const merge = (into: Uint8Array, from: Uint8Array): void => { for (let g = 0; g < G; g++) into[g] |= from[g]!; };
  // Exits write back every global the TB writes: a superset of what is dirty
  // there, which is harmless (a clean local still equals its slot) and lets all
  // exits share one tail, where exact sets made one long sequence per exit.
  const allText = text(new Uint8Array(G).fill(1));
  const entry = new Uint8Array(G);
  const result: string[] = new Array<string>(ops.length + 1);
  for (let pass = 0; pass < 2; pass++) {
    const atLabel: (Uint8Array | null)[] = new Array<Uint8Array | null>(b.labels).fill(null);
    let cur: Uint8Array | null = entry.slice();
    const loopEdge = new Uint8Array(G);
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i]!, op = o.op, a = o.args;
      if (op === Op.label) {
        const l = atLabel[a[0]!] ?? new Uint8Array(G);
        if (cur) merge(l, cur);
        cur = l;
        continue;
      }
      if (op === Op.call && !b.helpers[a[1]!]!.pure) result[i] = text(cur);
      else if (op === Op.gotoTb || op === Op.exitTb) result[i] = allText;
      if (!cur) continue;
      switch (op) {
        case Op.br: case Op.brcond: {
          const l = a[op === Op.br ? 0 : 3]!;
          const s = atLabel[l] ?? (atLabel[l] = new Uint8Array(G));
          merge(s, cur);
          if (op === Op.br) cur = null;
          continue;
        }
        case Op.gotoTb:
          if (a[0] === b.loopSlot) merge(loopEdge, cur);
          cur = null;
          continue;
        case Op.exitTb: cur = null; continue;
        case Op.st: case Op.insnStart: continue;
        case Op.call: { const t = a[0]!; if (t >= 0 && dense[t]! >= 0) cur[dense[t]!] = 1; continue; }
      }
      const outs = op === Op.mulu2 || op === Op.muls2 || op === Op.add2 || op === Op.sub2 ? 2 : 1;
      for (let k = 0; k < outs; k++) { const t = a[k]!; if (dense[t]! >= 0) cur[dense[t]!] = 1; }
    }
    result[ops.length] = allText;
    if (b.loopSlot === undefined) break;
    let grew = false;
    for (let g = 0; g < G; g++) if (loopEdge[g] && !entry[g]) { entry[g] = 1; grew = true; }
    if (!grew) break;
  }
  return result;
}

/**
 * One op as JavaScript; `fault` is the statement a faulting ld / st runs (it must leave the function).
 * With `site` (`pc,n`: the instruction and the TB's count before it), a ld / st's slow path
 * calls GuestMemory's throwing form instead (the TB catches MEMORY_FAULT); `fault` then serves
 * only the alignment checks.
 */
export function emitOp(o: IrOp, v: (i: number) => string, u: (i: number) => string, fault = `{m.faultPc=0;return ${EXIT_FAULT};}`, slowMark = '', site?: string): string {
  const a = o.args;
  const d = (): string => v(a[0]!);
  const x = a.length > 1 && a[1]! >= 0 ? v(a[1]!) : "", y = a.length > 2 && a[2]! >= 0 && o.op !== Op.ld && o.op !== Op.st ? v(a[2]!) : "";
  switch (o.op) {
    case Op.mov: return `${d()}=${x};`;
    case Op.add: return `${d()}=(${x}+${y})|0;`;
    case Op.sub: return `${d()}=(${x}-${y})|0;`;
    case Op.mul: return `${d()}=Math.imul(${x},${y});`;
    case Op.and: return `${d()}=${x}&${y};`;
    case Op.or: return `${d()}=${x}|${y};`;
    case Op.xor: return `${d()}=${x}^${y};`;
    case Op.andc: return `${d()}=${x}&~${y};`;
    case Op.shl: return `${d()}=${x}<<${y};`;
    case Op.shr: return `${d()}=(${x}>>>${y})|0;`;
    case Op.sar: return `${d()}=${x}>>${y};`;
    case Op.rotr: return `${d()}=(${x}>>>${y})|(${x}<<(32-${y}));`;
    case Op.divs: return `${d()}=divs(${x},${y});`;
    case Op.divu: return `${d()}=divu(${x},${y});`;
    case Op.not: return `${d()}=~${x};`;
    case Op.neg: return `${d()}=(-${x})|0;`;
    case Op.ext8s: return `${d()}=(${x}<<24)>>24;`;
    case Op.ext8u: return `${d()}=${x}&255;`;
    case Op.ext16s: return `${d()}=(${x}<<16)>>16;`;
    case Op.ext16u: return `${d()}=${x}&65535;`;
    case Op.bswap32: return `{const q=${x};${d()}=(q<<24)|((q&65280)<<8)|((q>>>8)&65280)|(q>>>24);}`;
    case Op.clz: return `${d()}=Math.clz32(${x});`;
    case Op.setcond: return `${d()}=(${cmp(a[3]!, a[1]!, a[2]!, v, u)})?1:0;`;
    case Op.movcond: return `${d()}=(${cmp(a[5]!, a[1]!, a[2]!, v, u)})?${v(a[3]!)}:${v(a[4]!)};`;
    case Op.mulu2: return `{const p=${v(a[2]!)},q=${v(a[3]!)};${v(a[0]!)}=Math.imul(p,q);${v(a[1]!)}=umulh(p,q);}`;
    case Op.muls2: return `{const p=${v(a[2]!)},q=${v(a[3]!)};${v(a[0]!)}=Math.imul(p,q);${v(a[1]!)}=smulh(p,q);}`;
    case Op.add2:
      return `{const p=${v(a[2]!)},q=(p+${v(a[4]!)})|0;${v(a[1]!)}=(${v(a[3]!)}+${v(a[5]!)}+((q>>>0)<(p>>>0)?1:0))|0;${v(a[0]!)}=q;}`;
    case Op.sub2:
      return `{const p=${v(a[2]!)},r=${v(a[4]!)};${v(a[1]!)}=(${v(a[3]!)}-${v(a[5]!)}-((p>>>0)<(r>>>0)?1:0))|0;${v(a[0]!)}=(p-r)|0;}`;
    case Op.ld: return emitLoad(d(), x, a[2]!, fault, site);
    case Op.st: return emitStore(d(), x, a[2]!, fault, slowMark, site);
    case Op.br: return `break L${a[0]};`;
    case Op.brcond: return `if(${cmp(a[2]!, a[0]!, a[1]!, v, u)})break L${a[3]};`;
    case Op.call: {
      let call = `h${a[1]}(`;
      for (let k = 2; k < a.length; k++) call += k > 2 ? `,${v(a[k]!)}` : v(a[k]!);
      call += ')';
      return a[0]! >= 0 ? `${v(a[0]!)}=${call}|0;` : `${call};`;
    }
    case Op.gotoTb: return `return ${a[0]};`;
    case Op.exitTb: return `return ${a[0]};`;
    case Op.insnStart: return `// ${(a[0]! >>> 0).toString(16)}`;
  }
  throw new Error(`JS back end: unknown op ${o.op}`);
}

export function cmp(c: number, a: number, b: number, v: (i: number) => string, u: (i: number) => string): string {
  return c >= 6 ? `${u(a)}${CMP[c]}${u(b)}` : `${v(a)}${CMP[c]}${v(b)}`;
}

/**
 * Loads: the fast path is `((a&3)|noRead[page])===0` (one branch) and a
 * typed-array read. Anything else goes through GuestMemory's checked
 * slow path; a fault leaves the TB before the destination is written.
 */
function emitLoad(d: string, addr: string, memop: number, fault: string, site?: string): string {
  const size = memop & MemOp.sizeMask, sign = (memop & MemOp.sign) !== 0, swap = (memop & MemOp.bswap) !== 0;
  const mask = (1 << size) - 1;
  const [bind, a] = addressName(addr, site);
  const [alignChk, align8] = alignChecks(a, memop, fault);
  let post = '';
  if (swap && size === 1) post += 'q=((q&255)<<8)|((q>>>8)&255);';
  if (swap && size === 2) post += 'q=(q<<24)|((q&65280)<<8)|((q>>>8)&65280)|(q>>>24);';
  if (sign && size === 0) post += 'q=(q<<24)>>24;';
  if (sign && size === 1) post += 'q=(q<<16)>>16;';
  // A throwing slow path returns only on success, so it may assign the destination directly.
  const call = `m.l${8 << size}(${a},${site})`;
  const slow = site === undefined ? `${alignChk}let q=m.ld${8 << size}(${a});if(m.fk!==0)${fault}${post}${d}=q;`
    : post ? `${alignChk}let q=${call};${post}${d}=q;` : `${alignChk}${d}=${call};`;
  if (swap) return `{${bind}${align8}${slow}}`;
  const view = size === 0 ? `${sign ? 'S8' : 'M8'}[${a}>>>0]` : size === 1 ? `${sign ? 'S16' : 'M16'}[${a}>>>1]` : `M32[${a}>>>2]`;
  const cond = size ? `((${a}&${mask})|NR[${a}>>>12])===0` : `NR[${a}>>>12]===0`;
  // No `|0`: the views hold int32-range values and the fast path only reads inside the buffer (GuestMemory.blockPastEnd).
  return block(bind + align8, `if(${cond})${d}=${view};else{${slow}}`);
}

/** Stores: the fast path needs a writable page without translated code (noWrite[page] === 0). */
function emitStore(val: string, addr: string, memop: number, fault: string, slowMark = '', site?: string): string {
  const size = memop & MemOp.sizeMask, swap = (memop & MemOp.bswap) !== 0;
  const mask = (1 << size) - 1;
  const [bind, a] = addressName(addr, site);
  const [alignChk, align8] = alignChecks(a, memop, fault);
  let w = val;
  if (swap && size === 1) w = `((${val}>>>8)&255)|((${val}&255)<<8)`;
  if (swap && size === 2) w = `((${val})<<24)|((${val}&65280)<<8)|((${val}>>>8)&65280)|((${val})>>>24)`;
  const slow = site === undefined ? `${slowMark}${alignChk}m.st${8 << size}(${a},${w});if(m.fk!==0)${fault}`
    : `${slowMark}${alignChk}m.s${8 << size}(${a},${w},${site});`;
  if (swap) return `{${bind}${align8}${slow}}`;
  const view = size === 0 ? `M8[${a}>>>0]` : size === 1 ? `M16[${a}>>>1]` : `M32[${a}>>>2]`;
  const cond = size ? `((${a}&${mask})|NW[${a}>>>12])===0` : `NW[${a}>>>12]===0`;
  return block(bind + align8, `if(${cond})${view}=${w};else{${slow}}`);
}

/**
 * Word accesses of one guest instruction to one base register plus constant
 * offsets (LDM / STM, PUSH / POP, LDRD / STRD): groups of two or more
 * loads, or two or more stores, with only address additions between them,
 * found at translation time (AccessGroups). The group
 * is tested once (emitGroup): alignment of its lowest address and the
 * permission bytes of the pages of its lowest and highest word, which are the
 * only pages it can touch (it spans less than a page). In busybox awk's hot
 * TBs 38% of all accesses were second or later words of such instructions,
 * each with its own test, branch and slow path for TurboFan to compile.
 */
interface AccessGroups {
  /** At a group's first op: the index of its last op; -1 elsewhere. */
  end: Int32Array;
  /** At a group's first op: the op of its lowest and of its highest word. */
  loOp: Int32Array;
  hiOp: Int32Array;
}

function accessGroups(b: IrBlock): AccessGroups {
  const ops = b.ops, temps = b.temps, n = ops.length;
  const g: AccessGroups = { end: new Int32Array(n).fill(-1), loOp: new Int32Array(n), hiOp: new Int32Array(n) };
  const isConst = (t: number): boolean => t >= 0 && temps[t]!.kind === 'const';
  const named = (t: number): boolean => t >= 0 && temps[t]!.kind !== 'const';
  // Offsets of address temps from the group's base, valid inside the window only.
  const offOf = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const first = ops[i]!;
    if (!groupable(first) || !named(first.args[1]!)) continue;
    const kind = first.op, base = first.args[1]!;
    offOf.clear();
    offOf.set(base, 0);
    // Temps the window writes, and temps its accesses read (an addition moved
    // before the test must not change what an earlier access of the group saw).
    const written = new Set<number>(), read = new Set<number>([base]);
    // The base's own address addition earlier in the instruction (a descending
    // STM computes each word from the register): its source serves too.
    const src = baseSource(ops, temps, i, base);
    if (src !== null) { offOf.set(src.from, -src.off); read.add(src.from); }
    let members = 1, last = i, lo = 0, hi = 0, loOp = i, hiOp = i;
    if (kind === Op.ld) written.add(first.args[0]!);
    else read.add(first.args[0]!);
    for (let j = i + 1; j < n; j++) {
      const o = ops[j]!, a = o.args;
      if ((o.op === Op.add || o.op === Op.sub) && offOf.has(a[1]!) && isConst(a[2]!) && temps[a[0]!]!.kind === 'local' && !written.has(a[0]!) && !read.has(a[0]!)) {
        const c = temps[a[2]!]!.value | 0;
        offOf.set(a[0]!, offOf.get(a[1]!)! + (o.op === Op.add ? c : -c));
        written.add(a[0]!);
        continue;
      }
      if (o.op !== kind || !groupable(o) || a[2] !== first.args[2] || !offOf.has(a[1]!)) break;
      const off = offOf.get(a[1]!)!;
      if ((off & 3) !== 0 || Math.max(hi, off) - Math.min(lo, off) > 4092) break;
      if (kind === Op.ld && (a[0] === base || offOf.has(a[0]!) || written.has(a[0]!))) break; // a load may not overwrite an address or another load's value
      if (off < lo) { lo = off; loOp = j; }
      if (off > hi) { hi = off; hiOp = j; }
      read.add(a[1]!);
      if (kind === Op.ld) written.add(a[0]!);
      else read.add(a[0]!);
      members++;
      last = j;
    }
    if (members > 1) { g.end[i] = last; g.loOp[i] = loOp; g.hiOp[i] = hiOp; i = last; }
  }
  return g;
}

/**
 * `base` = `from` + `off` by an addition since the instruction started, with
 * `from` unchanged since; else null.
 */
function baseSource(ops: readonly IrOp[], temps: IrBlock['temps'], at: number, base: number): { from: number; off: number } | null {
  for (let j = at - 1; j >= 0; j--) {
    const o = ops[j]!, a = o.args;
    if (o.op === Op.insnStart || o.op === Op.label || o.op === Op.call) return null; // (an impure helper reloads the globals)
    if ((o.op === Op.add || o.op === Op.sub) && a[0] === base) {
      const from = a[1]!, c = a[2]!;
      if (from === base || temps[from]!.kind === 'const' || temps[c]!.kind !== 'const') return null;
      for (let k = j + 1; k < at; k++) if (writesTemp(ops[k]!, from)) return null;
      return { from, off: o.op === Op.add ? temps[c]!.value | 0 : -(temps[c]!.value | 0) };
    }
    if (writesTemp(o, base)) return null;
  }
  return null;
}

/** A plain 32-bit access (no byte swap, no LDREXD-style alignment test) with a named address. */
function groupable(o: IrOp): boolean {
  if (o.op !== Op.ld && o.op !== Op.st) return false;
  const memop = o.args[2]!;
  return (memop & (MemOp.sizeMask | MemOp.sign | MemOp.bswap | MemOp.align8)) === 2;
}

/**
 * A group from accessGroups: its address additions first, then one test;
 * the fast side does the plain typed-array accesses in order, the other the
 * usual checked code of each (so faults and writes to code pages are exactly
 * as without the group).
 */
function emitGroup(b: IrBlock, g: AccessGroups, from: number, v: (i: number) => string, u: (i: number) => string, fault: string, slowMark: string, site: string): string {
  const ops = b.ops, first = ops[from]!, store = first.op === Op.st, table = store ? 'NW' : 'NR';
  const lo = v(ops[g.loOp[from]!]!.args[1]!), hi = v(ops[g.hiOp[from]!]!.args[1]!);
  let head = '', fast = '', slow = '';
  for (let i = from; i <= g.end[from]!; i++) {
    const o = ops[i]!, a = o.args;
    if (o.op === Op.add || o.op === Op.sub) { head += emitOp(o, v, u); continue; }
    const addr = v(a[1]!);
    fast += o.op === Op.ld ? `${v(a[0]!)}=M32[${addr}>>>2];` : `M32[${addr}>>>2]=${v(a[0]!)};`;
    slow += o.op === Op.ld ? `${v(a[0]!)}=m.l32(${addr},${site});` : `m.s32(${addr},${v(a[0]!)},${site});`;
  }
  // The other side: GuestMemory's throwing slow paths, word by word (they read
  // or write any accessible word, aligned or not, and a store there drops
  // TBs translated from that page); the members share one memop and their
  // addresses differ by multiples of 4, so the first one's alignment test
  // stands for all.
  const at = v(first.args[1]!), align = first.args[2]! & MemOp.align ? `if((${at}&3)!==0){m.alignFault(${at});${fault}}` : '';
  return `${head}if(((${lo}&3)|${table}[${lo}>>>12]|${table}[${hi}>>>12])===0){${fast}}else{${store ? slowMark : ''}${align}${slow}}`;
}

/**
 * How an access names its address: a temp or cached global is used as it is
 * (less source); anything else (a constant, a write-through `R[..]`) is bound
 * to `a` first. Without a `site` (regions, which keep the `fk` test) it always binds.
 */
function addressName(addr: string, site: string | undefined): [bind: string, name: string] {
  return site !== undefined && /^[gt]\d+$/.test(addr) ? ['', addr] : [`const a=${addr};`, 'a'];
}

/** The alignment tests of an access (MemOp.align on its slow path, MemOp.align8 before both paths), '' where not asked for. */
function alignChecks(a: string, memop: number, fault: string): [onSlowPath: string, first: string] {
  const mask = (1 << (memop & MemOp.sizeMask)) - 1;
  return [
    memop & MemOp.align && mask > 0 ? `if((${a}&${mask})!==0){m.alignFault(${a});${fault}}` : '',
    memop & MemOp.align8 ? `if((${a}&7)!==0){m.alignFault(${a});${fault}}` : '',
  ];
}

/** `head` then the one `if` statement, in a block only when `head` declares or tests something. */
function block(head: string, stmt: string): string {
  return head ? `{${head}${stmt}}` : stmt;
}

// Translation-time code: kept out of TurboFan (see never-optimize.ts).
neverOptimize(generateSource, writeBacks, writeThrough, countPlan, accessGroups, emitGroup, emitOp);
