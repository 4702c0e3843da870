import { compileBlock, type ChainState, type ExecEnv, type LinkedTbFunction } from './backend-js.js';
import { compileRegion } from './region.js';
import { interpretBlock } from './interp.js';
import { MemOp, Op, type IrBlock } from './ir.js';
import { EXIT_FAULT, FAULT_EXEC, PAGE_BITS, PERM_MAPPED, PERM_R, PERM_W, PERM_X } from './memory.js';
import { optimizeBlock, type ConstLoad } from './optimize.js';
import { loadedValue } from './semantics.js';
import { neverOptimize } from './never-optimize.js';

/** Exit code of a TB whose successor must be looked up by (pc, flags). */
export const EXIT_LOOKUP = -1;

export interface TranslationBlock {
  pc: number;
  flags: number;
  /** Guest bytes [pc, end) the TB was translated from. */
  end: number;
  icount: number;
  /** Returns the next TB itself when a chained exit is linked (compiled TBs), else a slot or exit code. */
  fn: LinkedTbFunction<TranslationBlock>;
  /** Chained successors, one per goto_tb slot. */
  links: (TranslationBlock | null)[];
  valid: boolean;
  /** The TB's IR (optimised once it is hot), kept for region compilation; without regions, dropped once the TB is compiled (an empty block). */
  ir: IrBlock;
  optimized: boolean;
  /** One-entry cache of the last successor of an indirect exit (EXIT_LOOKUP), keyed by its pc and flags; read by compiled TBs. */
  ind: TranslationBlock | null;
  ipc: number;
  ifl: number;
  /** Three older entries of that cache (IndirectCache), first in first out. */
  i1: TranslationBlock | null; p1: number; f1: number;
  i2: TranslationBlock | null; p2: number; f2: number;
  i3: TranslationBlock | null; p3: number; f3: number;
}

/** What a front end provides to the execution loop. */
export interface FrontEnd {
  /** Current guest pc and TB flags (e.g. ARM vs Thumb state, IT state); flags < FLAGS_LIMIT. */
  pc(): number;
  flags(): number;
  /**
   * Translate the block at (pc, flags); `end` is one past its last guest byte.
   * A TB taken from several places (a trace through branches) lists every
   * guest page it read instructions from in `pages`; otherwise it covers [pc, end).
   */
  translate(pc: number, flags: number): { ir: IrBlock; end: number; pages?: number[] };
  /**
   * Translate the block at (pc, flags) again for a hot TB, before it is
   * compiled (optional). `hint`: its indirect exit always went there; the
   * front end may go on translating there behind a run-time check (a trace
   * through the indirect branch). `stops`: TBs that loop on themselves start
   * at these keys; the front end may end the block where it reaches one (in
   * that state) instead of holding a copy of that loop. `colds`: instructions
   * its interpreted runs never reached, which it may leave out (an exit to
   * each instead). Null when it could use none of them.
   */
  retranslate?(pc: number, flags: number, how: RetranslateHints): { ir: IrBlock; end: number; pages?: number[]; hinted?: boolean; stopped?: boolean; colded?: boolean } | null;
  /** JavaScript expressions over the state array `R` computing pc() and flags(), for lookups inside compiled TBs (optional). */
  lookupKeySource?(): { pc: string; flags: string };
}

/** What TbCache tells FrontEnd.retranslate about a hot TB. */
export interface RetranslateHints {
  hint?: { pc: number; flags: number };
  stops?: readonly { pc: number; flags: number }[];
  /**
   * Guest pcs of instructions (after the first) that none of the TB's
   * interpreted runs reached: the front end may leave the TB there through a
   * chained exit instead of translating them (they are not compiled; if they
   * ever run, it is as the start of a TB of their own).
   */
  colds?: ReadonlySet<number>;
}

export interface TbCacheOptions {
  /** Run blocks through the IR interpreter instead of the JS back end. */
  interpret?: boolean;
  optimize?: boolean;
  chain?: boolean;
  /**
   * Executions of a TB through the IR interpreter before it is optimised and
   * compiled (a cheap first tier for cold code: compiling costs ~0.2 ms per TB).
   * 0 compiles at once.
   */
  hotThreshold?: number;
  /**
   * Compile a hot TB that starts a loop together with the TBs it chains to
   * (up to 4). Experimental, default false: correct on the whole test suite,
   * but no measurable gain yet on this machine.
   */
  regions?: boolean;
  /**
   * Compiled TBs call their chained successors themselves (see ChainState).
   * Default false: it took a quarter of awk's dispatcher time away but
   * measured 0-15% more CPU on the other workloads (README, Speed).
   */
  directChain?: boolean;
  /**
   * Leave out of a hot TB's compiled form the instructions none of its
   * interpreted runs reached (FrontEnd.retranslate with `colds`). Default true.
   */
  coldExits?: boolean;
  /**
   * Count the guest instructions executed (`insnsExecuted`). Default true;
   * false spares compiled TBs the counter update at every exit and back edge
   * and its bookkeeping (3-5% of the host instructions of a run: tsemu-arm
   * counts only for `-d stats`, as qemu-arm counts nothing unless asked).
   */
  countInsns?: boolean;
  /** Called with each optimised TB before it is compiled (debug output such as -d op). */
  onTranslate?: (pc: number, flags: number, ir: IrBlock) => void;
}

const JMP_CACHE_BITS = 14;
/** The IR of a TB whose own is no longer needed (compiled, no regions). */
const NO_IR: IrBlock = { temps: [], ops: [], labels: 0, helpers: [], icount: 0 };
/** TB flags are below this (the map key is pc * FLAGS_LIMIT + flags, exact in a double). */
export const FLAGS_LIMIT = 1 << 12;
const DEFAULT_HOT_THRESHOLD = 8;
/** Unreached instructions in a row a hot TB must have before they are left out (coldInsns). */
const MIN_COLD_RUN = 8;
const MAX_REGION = 4;
/** Successors a compiled TB may call directly before returning to the dispatcher (bounds the JS stack). */
const CHAIN_DEPTH = 16;

/** run() stopped at a chained exit (PC set, state consistent) because `interrupt[0]` was non-zero. */
export const EXIT_INTERRUPT = -5;

/**
 * Translation-block cache keyed by (pc, flags), with a direct-mapped jump
 * cache in front of the map, chaining of goto_tb exits, and invalidation of
 * every TB on a guest page that is written.
 */
export class TbCache {
  private map = new Map<number, TranslationBlock>();
  private jmp: (TranslationBlock | null)[] = new Array(1 << JMP_CACHE_BITS).fill(null);
  private byPage = new Map<number, TranslationBlock[]>();
  /** TBs that loop on themselves, by pc (a hot TB holding a copy of one may end where it starts). */
  private loopHeads = new Map<number, TranslationBlock[]>();
  /** Counters for benchmarks. */
  tbsTranslated = 0;
  insnsExecuted = 0;
  tbsInvalidated = 0;
  /** TBs that became hot and were compiled to JavaScript. */
  tbsCompiled = 0;
  /** Hot TBs translated again before they were compiled (retranslateHot): through their one indirect target, or ending at a loop's TB. */
  tbsRetranslated = 0;
  /** Of those: translated on through their indirect branch's target (the front end followed the hint). */
  tbsHinted = 0;
  /** Of those: ending where a self-looping TB starts (the front end used a stop). */
  tbsStopped = 0;
  /** Hot TBs translated again without the instructions their interpreted runs never reached. */
  tbsColded = 0;
  /** Hot TBs compiled together with their chained successors. */
  regionsCompiled = 0;
  /** Non-zero word 0 ends run() at the next chained exit with EXIT_INTERRUPT (linux-user: a signal came in). */
  interrupt = new Int32Array(new ArrayBuffer(4));
  private regionsOf = new Map<TranslationBlock, { valid: boolean; owner: TranslationBlock }[]>();
  private readonly regions: boolean;
  private readonly interpret: boolean;
  private readonly optimize: boolean;
  private readonly chain: boolean;
  /** Direct chaining state shared with compiled TBs (see ChainState). */
  private readonly cs: ChainState;

  /** TSEMU_TB_PROFILE=1: entries and guest instructions per TB, printed to stderr at exit (debugging speed). */
  private profile: Map<TranslationBlock, number[]> | null = null;

  constructor(private env: ExecEnv, private fe: FrontEnd, private opts: TbCacheOptions = {}) {
    if (typeof process !== 'undefined' && process.env.TSEMU_TB_PROFILE) {
      const prof = (this.profile = new Map());
      process.on('exit', () => printProfile(prof, process.env.TSEMU_TB_PROFILE === 'entries' ? 0 : 1));
    }
    this.interpret = opts.interpret ?? false;
    this.optimize = opts.optimize ?? true;
    this.chain = opts.chain ?? true;
    this.regions = (opts.regions ?? false) && this.chain && this.optimize;
    env.mem.onCodeWrite = (addr) => this.invalidatePage(addr >>> PAGE_BITS);
    // Off-heap (an explicit ArrayBuffer): V8 keeps typed arrays of up to 64
    // bytes in the JS heap, where the collector may move their data, so every
    // TB exit reloaded the counter's data pointer and checked its length; an
    // off-heap buffer's address is a constant in optimised TBs (icount: awk
    // -0.8%, gzip -0.3%). The interrupt word likewise.
    env.insnCounter ??= new Float64Array(new ArrayBuffer(8));
    env.countInsns = this.profile !== null || opts.countInsns !== false;
    this.cs = { last: null, depth: 0 };
    env.chainState = this.chain && !this.interpret && opts.directChain === true ? this.cs : undefined;
    if (this.chain && env.chainState === undefined) env.lookupKey = fe.lookupKeySource?.();
  }

  lookup(pc: number, flags: number): TranslationBlock {
    const h = ((pc >>> 1) ^ (flags << 3)) & ((1 << JMP_CACHE_BITS) - 1);
    const j = this.jmp[h];
    if (j !== null && j !== undefined && j.pc === pc && j.flags === flags) return j;
    const key = (pc >>> 0) * FLAGS_LIMIT + flags;
    let tb = this.map.get(key);
    if (tb === undefined) {
      tb = this.translate(pc, flags);
      if (!tb.valid) return tb; // an instruction-fetch fault
      this.map.set(key, tb);
    }
    this.jmp[h] = tb;
    return tb;
  }

  private translate(pc: number, flags: number): TranslationBlock {
    const env = this.env;
    const mem = env.mem;
    // Instruction fetch from a page without PROT_EXEC: a stand-in TB that
    // reports the fault. It is never cached or chained (valid = false), so the
    // fetch is checked again once the page's protection changes.
    if ((mem.perm[(pc >>> 0) >>> PAGE_BITS]! & PERM_X) === 0) {
      const a = pc >>> 0;
      return {
        // Same property order as a real TB: one object shape where generated code reads links.
        pc, flags, end: a + 1, icount: 0, fn: () => { mem.raiseFault(FAULT_EXEC, a); mem.faultPc = a; return EXIT_FAULT; },
        links: [null], valid: false, ir: { temps: [], ops: [], labels: 0, helpers: [], icount: 0 }, optimized: true, ind: null, ipc: 0, ifl: -1,
        i1: null, p1: 0, f1: -1, i2: null, p2: 0, f2: -1, i3: null, p3: 0, f3: -1,
      };
    }
    const { ir, end, pages } = this.fe.translate(pc, flags);
    // Fetching instructions goes through the checked loads; a TB that ran up to an unmapped page must not leave a fault behind.
    mem.fk = 0;
    const tb: TranslationBlock = {
      // links: a packed array (not `new Array(n)`, holey), read by compiled TBs at every chained exit.
      pc, flags, end, icount: ir.icount, fn: () => -1, links: Array.from({ length: Math.max(ir.slots ?? 0, 1) }, () => null),
      valid: true, ir, optimized: false, ind: null, ipc: 0, ifl: -1,
      i1: null, p1: 0, f1: -1, i2: null, p2: 0, f2: -1, i3: null, p3: 0, f3: -1,
    };
    // Interpreted runs per exit slot: a hot TB ends at a loop's TB only if every run went there anyway.
    let slotRuns: Uint32Array | null = null;
    // Instruction starts the interpreted runs reached (one byte per op of `ir`).
    let reach: Uint8Array | undefined;
    const compile = (): void => {
      if (!this.interpret && !this.regions) this.retranslateHot(tb, slotRuns, reach);
      this.optimizeTb(tb);
      this.opts.onTranslate?.(pc, flags, tb.ir);
      tb.fn = this.interpret ? () => interpretBlock(ir, env) : this.compileHot(tb);
      // Without regions nothing reads a compiled TB's IR again: let it go, so
      // the collector stops copying and marking it (it was most of the heap).
      if (!this.regions && !this.interpret) tb.ir = NO_IR;
      this.tbsCompiled++;
    };
    const threshold = this.interpret ? 0 : this.opts.hotThreshold ?? DEFAULT_HOT_THRESHOLD;
    if (threshold > 0) {
      let runs = 0;
      const cs = this.cs;
      // One count per goto_tb slot, then the runs that left otherwise (indirect exits, exceptions, faults).
      const nslots = Math.max(ir.slots ?? 0, 1), counts = (slotRuns = new Uint32Array(nslots + 1));
      const marks = this.opts.coldExits !== false && this.fe.retranslate !== undefined ? (reach = new Uint8Array(ir.ops.length)) : undefined;
      tb.fn = () => {
        // Compiled code from the first hot run on: its IR may be a new translation (retranslateHot), with other slots.
        if (++runs >= threshold) { compile(); return tb.fn(); }
        const r = interpretBlock(ir, env, marks);
        if (r >= 0) { cs.last = tb; counts[r]!++; } else counts[nslots]!++; // (it may have been called by a compiled TB, not the dispatcher)
        return r;
      };
    } else compile();
    this.tbsTranslated++;
    this.registerPages(tb, pages);
    if (ir.loopSlot !== undefined) {
      const heads = this.loopHeads.get(pc >>> 0);
      if (heads) heads.push(tb);
      else this.loopHeads.set(pc >>> 0, [tb]);
    }
    return tb;
  }

  /** Mark the TB's guest pages as code and list it under each (invalidation drops it on a write to any). */
  private registerPages(tb: TranslationBlock, pages: number[] | undefined): void {
    const first = (tb.pc >>> 0) >>> PAGE_BITS, last = ((tb.end - 1) >>> 0) >>> PAGE_BITS;
    for (const p of pages ?? Array.from({ length: last - first + 1 }, (_, i) => first + i)) {
      this.env.mem.setCode(p, true);
      let list = this.byPage.get(p);
      if (!list) this.byPage.set(p, (list = []));
      if (list[list.length - 1] !== tb) list.push(tb);
    }
  }

  /**
   * A TB about to be compiled is translated again (FrontEnd.retranslate) when
   * either applies:
   * - its indirect exit went to one target the last four times (its whole
   *   indirect cache holds that TB): a call through a pointer or a return then
   *   goes on inside the TB behind a check, instead of two TB transitions
   *   through the dispatcher;
   * - it holds the start of a TB that loops on itself (a loop head it ran
   *   into, say a function's prologue followed by its loop) and every one of
   *   its interpreted runs went on into that TB: it may end there. Its copy of
   *   the loop ran one iteration at most before branching back to the loop's
   *   own TB anyway, so this costs no transition where the loop goes round,
   *   and it spares compiling the loop twice (see loopHeadsIn).
   */
  private retranslateHot(tb: TranslationBlock, slotRuns: Uint32Array | null, reach: Uint8Array | undefined): void {
    if (this.fe.retranslate === undefined) return;
    const how: RetranslateHints = {};
    const t = tb.ind;
    if (t !== null && t.valid && tb.i1 === t && tb.i2 === t && tb.i3 === t) how.hint = { pc: t.pc, flags: t.flags }; // four exits, one target
    const stops = slotRuns === null ? [] : this.loopHeadsIn(tb, slotRuns);
    if (stops.length > 0) how.stops = stops;
    const colds = reach === undefined ? null : coldInsns(tb.ir, reach);
    if (colds !== null) how.colds = colds;
    if (how.hint === undefined && how.stops === undefined && how.colds === undefined) return;
    const r = this.fe.retranslate(tb.pc, tb.flags, how);
    this.env.mem.fk = 0;
    if (r === null) return;
    tb.ir = r.ir;
    tb.end = r.end;
    tb.icount = r.ir.icount;
    // Slots are the new IR's: links made by the interpreted runs belong to the old one.
    tb.links = Array.from({ length: Math.max(r.ir.slots ?? 0, 1) }, () => null);
    this.registerPages(tb, r.pages);
    this.tbsRetranslated++;
    if (r.hinted === true) this.tbsHinted++;
    if (r.stopped === true) this.tbsStopped++;
    if (r.colded === true) this.tbsColded++;
  }

  /**
   * Keys of valid self-looping TBs (other than `tb`) starting at an instruction
   * of `tb` after its first, that every one of `tb`'s interpreted runs left for
   * (its copy of the loop never finished the loop itself). Where the loop
   * often runs once, ending there adds a transition: bzip2's TB entries grew
   * 58.3 M -> 72.1 M when any loop head held was a stop, 65.9 M when three
   * quarters of the runs had to go there, 61.1 M with this rule.
   */
  private loopHeadsIn(tb: TranslationBlock, slotRuns: Uint32Array): { pc: number; flags: number }[] {
    const found: { pc: number; flags: number }[] = [];
    if (this.loopHeads.size === 0) return found;
    let runs = 0;
    for (let s = 0; s < slotRuns.length; s++) runs += slotRuns[s]!;
    const ops = tb.ir.ops;
    let first = true;
    for (let i = 0; i < ops.length; i++) {
      if (ops[i]!.op !== Op.insnStart) continue;
      if (first) { first = false; continue; }
      const heads = this.loopHeads.get(ops[i]!.args[0]! >>> 0);
      if (heads === undefined) continue;
      for (const h of heads) {
        if (!h.valid || h === tb) continue;
        let into = 0;
        for (let s = 0; s < slotRuns.length - 1; s++) if (tb.links[s] === h) into += slotRuns[s]!;
        if (into > 0 && into === runs) found.push({ pc: h.pc, flags: h.flags });
      }
    }
    return found;
  }

  private optimizeTb(tb: TranslationBlock): void {
    if (tb.optimized) return;
    if (this.optimize) {
      this.foldedPages.length = 0;
      optimizeBlock(tb.ir, this.constLoad);
      if (this.foldedPages.length > 0) this.registerPages(tb, this.foldedPages);
    }
    tb.optimized = true;
  }

  /**
   * The optimiser's ConstLoad: a load from a constant address on a mapped page
   * nobody may write (literal pools, read-only data, a GOT made read-only) reads
   * memory now. The TB is registered on that page as on its code, so a write
   * after an mprotect invalidates it (and linux-user drops the translations
   * registered on a page made non-executable, PROT_NONE included).
   */
  private readonly constLoad: ConstLoad = (addr, memop) => {
    if ((memop & (MemOp.align | MemOp.align8)) !== 0) return undefined;
    const mem = this.env.mem, a = addr >>> 0, size = 1 << (memop & MemOp.sizeMask);
    const p = a >>> PAGE_BITS;
    if ((a + size - 1) >>> PAGE_BITS !== p || a + size > mem.size) return undefined;
    if ((mem.perm[p]! & (PERM_R | PERM_W | PERM_MAPPED)) !== (PERM_R | PERM_MAPPED)) return undefined;
    const u8 = mem.u8;
    const raw = size === 1 ? u8[a]! : size === 2 ? u8[a]! | (u8[a + 1]! << 8) : u8[a]! | (u8[a + 1]! << 8) | (u8[a + 2]! << 16) | (u8[a + 3]! << 24);
    if (!this.foldedPages.includes(p)) this.foldedPages.push(p);
    return loadedValue(raw, memop);
  };
  /** Pages whose bytes the TB being optimised read at optimisation time (constLoad). */
  private readonly foldedPages: number[] = [];

  /**
   * Compile a hot TB: alone, or as the entry of a region with the TBs it has
   * already chained to (followed transitively, up to MAX_REGION members), so
   * loops across TBs run inside one function.
   */
  private compileHot(tb: TranslationBlock): LinkedTbFunction<TranslationBlock> {
    const env = this.env;
    env.interrupt = this.interrupt; // an embedder may have replaced the array since construction
    if (!this.regions) return compileBlock(tb.ir, env, tb);
    const members = [tb];
    const index = new Map<TranslationBlock, number>([[tb, 0]]);
    for (let i = 0; i < members.length && members.length < MAX_REGION; i++) {
      for (const nx of members[i]!.links) {
        if (nx && nx.valid && !index.has(nx) && members.length < MAX_REGION) {
          index.set(nx, members.length);
          members.push(nx);
        }
      }
    }
    // Only loops pay: a region must contain a path back to its entry.
    if (members.length === 1 || !members.some((m) => m.links.includes(tb))) return compileBlock(tb.ir, env, tb);
    for (const m of members) this.optimizeTb(m);
    const region = { valid: true, owner: tb };
    for (const m of members) {
      let list = this.regionsOf.get(m);
      if (!list) this.regionsOf.set(m, (list = []));
      list.push(region);
    }
    this.regionsCompiled++;
    return compileRegion(members.map((m) => ({ ir: m.ir, next: m.links.map((l) => (l ? index.get(l) ?? -1 : -1)) })), env, region);
  }

  /** Drop every TB translated from guest page `page` (its code was written). */
  invalidatePage(page: number): void {
    const list = this.byPage.get(page);
    if (!list) return;
    this.byPage.delete(page);
    for (const tb of list) {
      if (!tb.valid) continue;
      tb.valid = false;
      this.tbsInvalidated++;
      // Regions containing it stop at their next internal jump; their entry falls back to a plain TB.
      for (const r of this.regionsOf.get(tb) ?? []) {
        if (!r.valid) continue;
        r.valid = false;
        if (r.owner.valid) r.owner.fn = compileBlock(r.owner.ir, this.env, r.owner);
      }
      this.regionsOf.delete(tb);
      this.map.delete((tb.pc >>> 0) * FLAGS_LIMIT + tb.flags);
      const heads = this.loopHeads.get(tb.pc >>> 0);
      if (heads !== undefined) {
        const live = heads.filter((h) => h.valid);
        if (live.length > 0) this.loopHeads.set(tb.pc >>> 0, live);
        else this.loopHeads.delete(tb.pc >>> 0);
      }
    }
    // Unlink the dropped TBs, so compiled TBs stop returning them (rare: code written, unmapped or made non-executable).
    for (const t of this.map.values()) {
      const links = t.links;
      for (let k = 0; k < links.length; k++) if (links[k] !== null && !links[k]!.valid) links[k] = null;
      if (t.ind !== null && !t.ind.valid) { t.ind = null; t.ipc = 0; t.ifl = -1; }
      if (t.i1 !== null && !t.i1.valid) { t.i1 = null; t.p1 = 0; t.f1 = -1; }
      if (t.i2 !== null && !t.i2.valid) { t.i2 = null; t.p2 = 0; t.f2 = -1; }
      if (t.i3 !== null && !t.i3.valid) { t.i3 = null; t.p3 = 0; t.f3 = -1; }
    }
    this.jmp.fill(null);
    this.env.mem.setCode(page, false);
  }

  /** Drop TBs overlapping [start, end) (e.g. the guest's cacheflush). */
  invalidateRange(start: number, end: number): void {
    for (let p = (start >>> 0) >>> PAGE_BITS; p <= ((end - 1) >>> 0) >>> PAGE_BITS; p++) this.invalidatePage(p);
  }

  /** run() with per-TB counts: a dispatcher of its own so the normal loop stays lean. */
  private runProfiled(prof: Map<TranslationBlock, number[]>): number {
    const fe = this.fe, ctr = this.env.insnCounter!;
    let tb = this.lookup(fe.pc(), fe.flags());
    try {
      for (;;) {
        if (this.interrupt[0] !== 0) return EXIT_INTERRUPT;
        const before = ctr[0]!;
        const r = tb.fn();
        let e = prof.get(tb);
        if (e === undefined) prof.set(tb, (e = [0, 0, 0]));
        e[0]!++;
        e[1]! += ctr[0]! - before;
        if (typeof r !== 'number' && r.valid === true) {
          tb = r;
          continue;
        }
        if (r === EXIT_LOOKUP) e[2]!++;
        const nx = this.successor(tb, r);
        if (typeof nx === 'number') return nx;
        tb = nx;
      }
    } finally {
      this.insnsExecuted += ctr[0]!;
      ctr[0] = 0;
    }
  }

  /**
   * Run TBs until one exits with a code other than a chain slot or
   * EXIT_LOOKUP; returns that code. Chained exits go straight to the next TB
   * without hashing.
   */
  run(): number {
    if (this.profile !== null) return this.runProfiled(this.profile);
    if (this.dispatchFor !== this.interrupt) {
      this.dispatch = this.makeDispatcher();
      this.dispatchFor = this.interrupt;
    }
    const tb = this.lookup(this.fe.pc(), this.fe.flags());
    try {
      return this.dispatch!(tb);
    } finally {
      const ctr = this.env.insnCounter!;
      this.insnsExecuted += ctr[0]!;
      ctr[0] = 0;
    }
  }

  /**
   * The dispatcher loop as a closure over what it reads at every TB
   * transition (the interrupt word, this cache), made at the first run() and
   * again only if an embedder replaced `interrupt`: V8 specialises a function
   * made once to its context, so in its optimised code the interrupt test
   * reads a constant address (a field or a local of run() cost a spill reload,
   * a map check and a data-pointer load at every transition) and the
   * direct-chaining test folds away. No try/finally in the loop either
   * (run() adds up the counter).
   */
  private makeDispatcher(): (tb: TranslationBlock) => number {
    const intr = this.interrupt, self = this, cs = this.cs, direct = this.env.chainState !== undefined;
    return function dispatch(tb: TranslationBlock): number {
      for (;;) {
        if (intr[0] !== 0) return EXIT_INTERRUPT;
        if (direct) {
          cs.depth = CHAIN_DEPTH;
          cs.last = tb;
        }
        const r = tb.fn();
        // The common case, kept alone in the loop: a linked successor the TB
        // returned itself, still valid (`=== true`, not a bare test: V8
        // compiled the field's truthiness to a generic ToBoolean, icount awk
        // -0.8%, gzip -1.1%). Everything else goes through successor().
        if (typeof r !== 'number' && r.valid === true) {
          tb = r;
          continue;
        }
        const nx = self.successor(tb, r);
        if (typeof nx === 'number') return nx;
        tb = nx;
      }
    };
  }
  private dispatch: ((tb: TranslationBlock) => number) | null = null;
  /** The interrupt array `dispatch` was made for. */
  private dispatchFor: Int32Array | null = null;

  /**
   * The TB to run after `tb` returned `r` when that was not a valid linked
   * successor: a successor dropped while `tb` ran, a chain slot (linked now),
   * an indirect exit (EXIT_LOOKUP, which also fills `tb`'s indirect cache); or
   * any other exit code, which ends run().
   */
  private successor(tb: TranslationBlock, r: number | TranslationBlock): TranslationBlock | number {
    const fe = this.fe;
    // (invalidatePage unlinks dropped TBs; this catches one dropped while running.)
    if (typeof r !== 'number') return this.lookup(fe.pc(), fe.flags());
    if (r >= 0) {
      // The slot belongs to the TB that returned it, possibly one called directly by another.
      const from = this.env.chainState !== undefined ? (this.cs.last as TranslationBlock) : tb;
      let nx = from.links[r];
      if (nx === null || nx === undefined || nx.valid !== true) {
        nx = this.lookup(fe.pc(), fe.flags());
        if (this.chain && from.valid) from.links[r] = nx;
      }
      return nx;
    }
    if (r === EXIT_LOOKUP) {
      // Fill the TB's cache for its indirect exit (a return mostly goes back to one of a few callers).
      const nx = this.lookup(fe.pc(), fe.flags());
      if (nx.valid) pushIndirect(tb, nx);
      return nx;
    }
    return r;
  }
}

/** The dispatcher's fill of a TB's indirect-exit cache: the new target inline, the older ones shifted down (the oldest dropped). */
function pushIndirect(tb: TranslationBlock, nx: TranslationBlock): void {
  tb.i3 = tb.i2; tb.p3 = tb.p2; tb.f3 = tb.f2;
  tb.i2 = tb.i1; tb.p2 = tb.p1; tb.f2 = tb.f1;
  tb.i1 = tb.ind; tb.p1 = tb.ipc; tb.f1 = tb.ifl;
  tb.ind = nx; tb.ipc = nx.pc; tb.ifl = nx.flags;
}

/** The 40 TBs with the most guest instructions (`by` 1) or entries (0, TSEMU_TB_PROFILE=entries). */
function printProfile(prof: Map<TranslationBlock, number[]>, by: number): void {
  let entries = 0, insns = 0, lookups = 0;
  for (const e of prof.values()) { entries += e[0]!; insns += e[1]!; lookups += e[2]!; }
  const lines = [`TB profile: ${insns} insns, ${entries} TB entries (${(insns / Math.max(entries, 1)).toFixed(1)} insns/entry), ${lookups} indirect exits`];
  const top = [...prof].sort((a, b) => b[1][by]! - a[1][by]!).slice(0, 40);
  for (const [tb, e] of top) {
    lines.push(`  pc ${(tb.pc >>> 0).toString(16)} fl ${tb.flags} len ${tb.icount}: ${(100 * e[1]! / Math.max(insns, 1)).toFixed(1)}% insns, ${e[0]} entries, ${(e[1]! / e[0]!).toFixed(1)} insns/entry, ${e[2]} indirect`);
  }
  process.stderr.write(lines.join('\n') + '\n');
}

/**
 * Pcs of the instructions after the first that `reach` (from interpretBlock)
 * never marked, in runs of at least MIN_COLD_RUN instructions one after
 * another in the IR; null when there are none. A short side stays: leaving
 * it out saves little compile time, and if it was only rare in the first
 * runs, every later run of it costs a TB transition (gzip: a 4-instruction
 * side of its match loop, unreached while the hash chains are still empty,
 * then taken 1.5 M times per MiB out of a self-looping TB).
 */
function coldInsns(ir: IrBlock, reach: Uint8Array): Set<number> | null {
  const ops = ir.ops, seen = new Set<number>(), colds = new Set<number>();
  let run: number[] = [], first = true;
  for (let i = 0; i <= ops.length; i++) {
    const end = i === ops.length;
    if (!end && ops[i]!.op !== Op.insnStart) continue;
    if (!end && first) { first = false; continue; }
    if (!end && reach[i] === 0) { run.push(ops[i]!.args[0]! >>> 0); continue; }
    if (!end) seen.add(ops[i]!.args[0]! >>> 0);
    if (run.length >= MIN_COLD_RUN) for (const pc of run) colds.add(pc);
    run = [];
  }
  // An instruction copied twice into the TB (a followed branch) counts as reached if either copy was.
  for (const pc of seen) colds.delete(pc);
  return colds.size > 0 ? colds : null;
}

// Translation-time code: kept out of TurboFan (see never-optimize.ts). The
// dispatcher (run, successor, lookup) and invalidation stay optimisable
// (successor marked too measured worse on awk: -0.3% against -0.8%).
// (Bracket access reaches the private methods and is still type-checked, so a rename cannot leave one unmarked.)
const cacheProto = TbCache.prototype;
neverOptimize(coldInsns, cacheProto['translate'], cacheProto['retranslateHot'], cacheProto['loopHeadsIn'], cacheProto['optimizeTb'],
  cacheProto['compileHot'], cacheProto['registerPages']);
