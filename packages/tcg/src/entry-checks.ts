import { Op, MemOp, type IrBlock } from './ir.js';
import { nOut } from './operands.js';
import { neverOptimize } from './never-optimize.js';

/**
 * Access checks made once, at TB entry, for loads and stores whose address
 * the TB cannot change: a constant, a global the TB never writes, or a local
 * whose every assignment is `global + constant` of such a global (stack slots
 * off sp or a frame pointer, a global variable's address from a literal
 * pool). The access then tests a boolean local instead of the page table.
 *
 * Why it holds: while a TB runs, pages only ever become *more* accessible
 * (a store to a code page invalidates it, which clears its noWrite; mprotect
 * and munmap are system calls, which end the TB), so a check that passed at
 * entry still passes at the access, in every iteration of a self-loop too;
 * one that failed sends the access to its slow path, which checks again. A
 * store's check (noWrite) also answers its loads: a writable page is
 * readable (GuestMemory derives both from the same protection).
 *
 * Done for a self-looping TB (the check leaves the loop) and for an address
 * accessed more than once (a spill slot read, then written), not for a single
 * access in straight code, where it would only move the check.
 */
export interface EntryChecks {
  /** Declarations to run at TB entry (before a self-loop), or ''. */
  readonly decl: string;
  /** Op index -> the boolean local its access tests instead of its own check. */
  readonly byOp: Map<number, string>;
}

const NONE: EntryChecks = { decl: '', byOp: new Map() };

/** `v` names a temp as the generated code does (g<slot>, t<id>, a constant). */
export function planEntryChecks(b: IrBlock, v: (t: number) => string): EntryChecks {
  const temps = b.temps, ops = b.ops, nt = temps.length;
  // Globals the TB writes, directly or (impure helpers may write CPU state) at all.
  const written = new Uint8Array(nt);
  let accesses = 0;
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i]!;
    if (o.op === Op.call && !b.helpers[o.args[1]!]!.pure) return NONE;
    if (o.op === Op.ld || o.op === Op.st) accesses++;
    const n = nOut(o);
    for (let k = 0; k < n; k++) written[o.args[k]!] = 1;
  }
  if (accesses === 0) return NONE;
  const fixedGlobal = (t: number): boolean => temps[t]!.kind === 'global' && written[t] === 0;
  // The one expression every assignment of a local gives it, '' if none, null if it varies.
  const def: (string | null | undefined)[] = new Array<string | null | undefined>(nt);
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i]!, a = o.args, n = nOut(o);
    for (let k = 0; k < n; k++) {
      const t = a[k]!;
      if (temps[t]!.kind !== 'local' || def[t] === null) continue;
      let e: string | null = null;
      if (n === 1 && (o.op === Op.add || o.op === Op.sub) && fixedGlobal(a[1]!) && temps[a[2]!]!.kind === 'const') {
        e = `(${v(a[1]!)}${o.op === Op.add ? '+' : '-'}${v(a[2]!)})|0`;
      } else if (n === 1 && o.op === Op.mov && (fixedGlobal(a[1]!) || temps[a[1]!]!.kind === 'const')) e = v(a[1]!);
      def[t] = def[t] === undefined || def[t] === e ? e : null;
    }
  }
  const exprOf = (t: number): string | null => {
    const k = temps[t]!.kind;
    if (k === 'const' || fixedGlobal(t)) return v(t);
    return k === 'local' ? def[t] ?? null : null;
  };
  // Group the accesses by (address expression, alignment mask).
  const groups = new Map<string, { expr: string; mask: number; ops: number[]; store: boolean }>();
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i]!;
    if (o.op !== Op.ld && o.op !== Op.st) continue;
    const memop = o.args[2]!;
    if ((memop & (MemOp.bswap | MemOp.align8)) !== 0) continue; // those have no table-checked fast path
    const expr = exprOf(o.args[1]!);
    if (expr === null) continue;
    const mask = (1 << (memop & MemOp.sizeMask)) - 1;
    const key = `${expr}&${mask}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { expr, mask, ops: [], store: false }));
    g.ops.push(i);
    if (o.op === Op.st) g.store = true;
  }
  const loop = b.loopSlot !== undefined;
  const byOp = new Map<number, string>();
  let decl = '', k = 0;
  for (const g of groups.values()) {
    if (!loop && g.ops.length < 2) continue;
    const e = `e${k}`, name = `k${k++}`, table = g.store ? 'NW' : 'NR';
    const test = g.mask ? `((${e}&${g.mask})|${table}[${e}>>>12])===0` : `${table}[${e}>>>12]===0`;
    decl += `${decl ? ',' : 'let '}${e}=${g.expr},${name}=${test}`;
    for (const i of g.ops) byOp.set(i, name);
  }
  return decl ? { decl: decl + ';', byOp } : NONE;
}

// Translation-time code: kept out of TurboFan (see never-optimize.ts).
neverOptimize(planEntryChecks);
