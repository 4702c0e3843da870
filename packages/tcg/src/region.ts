import { Op, type IrBlock } from './ir.js';
import { cmp, emitOp, type ExecEnv, type TbFunction } from './backend-js.js';
import { umulh, smulh, divs, divu } from './semantics.js';
import { EXIT_FAULT } from './memory.js';

/** One TB of a region: its IR and, per goto_tb slot, the member it chains to (-1: leave the region). */
export interface RegionMember {
  ir: IrBlock;
  next: number[];
}

/**
 * Compiles several chained TBs into one JavaScript function: a `switch` on
 * the member index inside a loop, so a hot loop spanning TBs stays in one
 * optimised function with the guest registers in locals. Chained exits
 * between members are `continue`s; every other exit writes the registers
 * back and returns (-1 makes the dispatcher look the next TB up by pc, which
 * the front end sets before every goto_tb). `region.valid` is checked on each
 * internal jump so an invalidated member is never run stale.
 */
export function compileRegion(members: RegionMember[], env: ExecEnv, region: { valid: boolean }): TbFunction {
  const src = generateRegionSource(members, env.countInsns !== false);
  const factory = new Function('R', 'm', 'H', 'umulh', 'smulh', 'divs', 'divu', 'REG', 'CTR', src) as (...a: unknown[]) => TbFunction;
  return factory(env.regs, env.mem, members.map((x) => x.ir.helpers.map((h) => h.fn)), umulh, smulh, divs, divu, region,
    env.insnCounter ?? new Float64Array(1));
}

/** `counting` false leaves the guest instruction count out, as generateSource does. */
export function generateRegionSource(members: RegionMember[], counting = true): string {
  const globalsUsed = new Set<number>(), globalsWritten = new Set<number>();
  const locals: string[] = [];
  for (let m = 0; m < members.length; m++) {
    const b = members[m]!.ir;
    const seen = new Set<number>();
    for (const o of b.ops) {
      if (o.op === Op.label || o.op === Op.br || o.op === Op.gotoTb || o.op === Op.exitTb || o.op === Op.insnStart) continue;
      const args = o.op === Op.call ? [o.args[0]!, ...o.args.slice(2)] : o.args;
      const n = o.op === Op.setcond ? 3 : o.op === Op.movcond ? 5 : o.op === Op.ld || o.op === Op.st || o.op === Op.brcond ? 2 : args.length;
      const nOut = o.op === Op.mulu2 || o.op === Op.muls2 || o.op === Op.add2 || o.op === Op.sub2 ? 2 : o.op === Op.st || o.op === Op.brcond ? 0 : 1;
      for (let k = 0; k < n; k++) {
        const a = args[k]!;
        if (a < 0) continue;
        const t = b.temps[a]!;
        if (t.kind === 'local' && !seen.has(a)) { seen.add(a); locals.push(`t${m}_${a}=0`); }
        else if (t.kind === 'global') { globalsUsed.add(t.value); if (k < nOut) globalsWritten.add(t.value); }
      }
    }
  }
  const gUsed = [...globalsUsed].sort((x, y) => x - y);
  const writeBack = [...globalsWritten].sort((x, y) => x - y).map((g) => `R[${g}]=g${g};`).join('');
  const reload = gUsed.map((g) => `g${g}=R[${g}];`).join('');
  const out: string[] = [];
  out.push('const M8=m.u8,S8=m.i8,M16=m.u16,S16=m.i16,M32=m.i32,NR=m.noRead,NW=m.noWrite;');
  members.forEach((x, m) => x.ir.helpers.forEach((_, i) => out.push(`const h${m}_${i}=H[${m}][${i}];`)));
  out.push('return function region(){');
  if (locals.length) out.push(`let ${locals.join(',')};`);
  if (gUsed.length) out.push('let ' + gUsed.map((g) => `g${g}=R[${g}]`).join(',') + ';');
  out.push(counting ? 'let ic=0,s=0;' : 'let s=0;');
  out.push('RG:for(;;){switch(s){');
  members.forEach((mem, m) => {
    const b = mem.ir, temps = b.temps;
    const v = (i: number): string => {
      const t = temps[i]!;
      if (t.kind === 'const') return t.value < 0 ? `(${t.value})` : String(t.value);
      if (t.kind === 'global') return `g${t.value}`;
      return `t${m}_${i}`;
    };
    const u = (i: number): string => (temps[i]!.kind === 'const' ? String(temps[i]!.value >>> 0) : `(${v(i)}>>>0)`);
    out.push(`case ${m}:{`);
    const labelPos: number[] = [];
    for (const o of b.ops) if (o.op === Op.label) labelPos.push(o.args[0]!);
    for (let k = labelPos.length - 1; k >= 0; k--) out.push(`L${m}_${labelPos[k]}:{`);
    let insns = 0, pc = 0;
    const fault = (): string => `{${writeBack}m.faultPc=${pc};${counting ? `CTR[0]+=ic${insns > 1 ? `+${insns - 1}` : ''};` : ''}return ${EXIT_FAULT};}`;
    const flush = (): string => { const k = insns; insns = 0; return k && counting ? `ic+=${k};` : ''; };
    const count = (): string => (counting ? `CTR[0]+=ic${insns ? `+${insns}` : ''};ic=0;` : '');
    const seen = new Set<number>();
    for (const o of b.ops) {
      const a = o.args;
      if ((o.op === Op.br || o.op === Op.brcond) && seen.has(a[o.op === Op.br ? 0 : 3]!)) throw new Error('backward branch in a region member');
      switch (o.op) {
        case Op.label: seen.add(a[0]!); out.push(`${flush()}}`); continue;
        case Op.br: out.push(`${flush()}break L${m}_${a[0]};`); continue;
        case Op.brcond: out.push(`if(${cmp(a[2]!, a[0]!, a[1]!, v, u)}){${insns && counting ? `ic+=${insns};` : ''}break L${m}_${a[3]};}`); continue;
        case Op.insnStart: insns++; pc = a[0]! >>> 0; continue;
        case Op.gotoTb: {
          const slot = a[0]!;
          const target = slot === b.loopSlot ? m : mem.next[slot] ?? -1;
          if (target >= 0) out.push(`${count()}if(REG.valid){s=${target};continue RG;}${writeBack}return -1;`);
          else out.push(`${count()}${writeBack}return -1;`);
          continue;
        }
        case Op.exitTb: out.push(`${count()}${writeBack}return ${a[0]};`); continue;
        case Op.call: {
          // Around a helper that may touch the CPU state the registers go through R; its result too.
          const pure = b.helpers[a[1]!]!.pure === true;
          const call = `h${m}_${a[1]}(${a.slice(2).map(v).join(',')})`;
          const ret = a[0]! < 0 ? '' : !pure && temps[a[0]!]!.kind === 'global' ? `R[${temps[a[0]!]!.value}]=` : `${v(a[0]!)}=`;
          const stmt = ret ? `${ret}${call}|0;` : `${call};`;
          const check = b.helpers[a[1]!]!.mayFault ? `if(m.fk!==0)${fault()}` : '';
          out.push((pure ? stmt : writeBack + stmt + reload) + check);
          continue;
        }
      }
      out.push(emitOp(o, v, u, fault()));
    }
    out.push(`${count()}${writeBack}return -1;}`);
  });
  out.push('}return -1;}}');
  return out.join('\n');
}
