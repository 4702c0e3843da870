import { TbCache, neverOptimize, type FrontEnd, type GuestMemory, type RetranslateHints, type TbCacheOptions } from '@tsemu/tcg';
import { ArmCpuState, S } from './cpu-state.js';
import { makeHelpers, type ArmHelpers } from './helpers.js';
import { translateArm, TB_FLAG_THUMB, TB_FLAG_IT_SHIFT } from './translate/translate.js';

/**
 * One ARM CPU: state, helpers, and a TB cache fed by the ARM translator.
 * `run()` executes until a TB exits with an exception (syscall, undefined
 * instruction, ...) and returns that exit code; the caller (linux-user)
 * handles it and calls `run()` again.
 */
export class ArmCpu implements FrontEnd {
  readonly state: ArmCpuState;
  readonly helpers: ArmHelpers;
  readonly cache: TbCache;
  private readonly regs: Int32Array;
  /**
   * Trace formation: TBs follow unconditional B / BL and go on after a
   * predicted return (checked, with a side exit). Off by default: fewer TB
   * transitions but more CPU on the benchmarks so far (README, Speed);
   * TSEMU_ARM_TRACES=1 switches it on for measurements.
   */
  private readonly traces: boolean;

  constructor(readonly mem: GuestMemory, opts: TbCacheOptions & { traces?: boolean } = {}) {
    this.traces = opts.traces ?? (typeof process !== 'undefined' && process.env.TSEMU_ARM_TRACES === '1');
    this.state = new ArmCpuState(mem);
    this.regs = this.state.regs;
    this.helpers = makeHelpers(this.state);
    this.cache = new TbCache({ regs: this.regs, mem }, this, opts);
  }

  pc(): number { return this.regs[S.PC]!; }
  flags(): number { return (this.regs[S.THUMB]! & TB_FLAG_THUMB) | ((this.regs[S.CONDEXEC]! & 0xff) << TB_FLAG_IT_SHIFT); }
  lookupKeySource(): { pc: string; flags: string } {
    return { pc: `R[${S.PC}]`, flags: `(R[${S.THUMB}]&${TB_FLAG_THUMB})|((R[${S.CONDEXEC}]&255)<<${TB_FLAG_IT_SHIFT})` };
  }
  translate(pc: number, flags: number) {
    return translateArm(this.mem, this.helpers, pc, flags, this.traces);
  }
  retranslate(pc: number, flags: number, how: RetranslateHints) {
    // Only a target outside an IT block can be followed (in either instruction set: BX / BLX interwork).
    const h = how.hint;
    const hint = h !== undefined && (h.flags & ~TB_FLAG_THUMB) === 0 ? (h.pc | (h.flags & TB_FLAG_THUMB)) | 0 : -1;
    const r = translateArm(this.mem, this.helpers, pc, flags, this.traces, hint, how.stops, how.colds);
    return r.hinted || r.stopped || r.colded ? r : null;
  }

  run(): number { return this.cache.run(); }
}

// Translation time only, like the decoders it calls (see translate.ts).
neverOptimize(ArmCpu.prototype.translate, ArmCpu.prototype.retranslate);
