import { GuestMemory } from '@tsemu/tcg';

/**
 * Slots of the CPU state Int32Array. Flags are kept "cheaply": N is the sign
 * of NF, Z is (ZF == 0), C is CF (0/1), V is the sign of VF, so a flag-setting
 * instruction stores its result once and reads cost one compare.
 */
export const S = {
  PC: 15, SP: 13, LR: 14,
  NF: 16, ZF: 17, CF: 18, VF: 19,
  QF: 20, // sticky saturation flag (non-zero = set)
  GE: 21, // GE[3:0] for SEL / parallel arithmetic
  THUMB: 22,
  EXCL_ADDR: 23, // LDREX monitor: address, or -1 when open
  EXCL_VAL: 24,
  TLS: 25, // TPIDRURO, read by MRC p15 c13 c0 3
  FPSCR: 26, // FPSCR without NZCV
  FPNZCV: 27, // FPSCR N Z C V in bits 31..28
  EXCP: 28, // exception number when a TB exits with EXIT_EXCEPTION
  EXCP_ARG: 29, // e.g. the undefined instruction word
  SCRATCH: 30,
  SCRATCH2: 31,
  /**
   * Thumb IT state, ITSTATE[7:0] as in the CPSR (base condition and mask; 0
   * outside IT blocks). The translator knows it statically; generated code
   * stores it where it changes (so a memory fault reports it) and at exits
   * in the middle of an IT block (SVC, undefined instruction, TB length or
   * page limit). It is part of the TB flags, so the next TB is translated in
   * that state.
   */
  CONDEXEC: 32,
} as const;
export const NUM_SLOTS = 33;

export const EXIT_EXCEPTION = -2;
export const Excp = { SWI: 1, UDEF: 2, BKPT: 3, KUSER: 4, HALT: 5 } as const;

export const HWCAP = {
  SWP: 1 << 0, HALF: 1 << 1, THUMB: 1 << 2, FAST_MULT: 1 << 4, VFP: 1 << 6, EDSP: 1 << 7,
  TLS: 1 << 15, VFPv3: 1 << 13, VFPv3D16: 1 << 14, IDIVA: 1 << 17, IDIVT: 1 << 18, VFPD32: 1 << 19, LPAE: 1 << 20, VFPv4: 1 << 16,
} as const;

/** CPU state of one ARM core (user level): integer registers, flags, VFP registers. */
export class ArmCpuState {
  readonly regs = new Int32Array(NUM_SLOTS);
  /** VFP D0-D31; S0-S31 alias the low 16 D registers (little-endian halves). */
  readonly vfpBuffer = new ArrayBuffer(32 * 8);
  readonly d = new Float64Array(this.vfpBuffer);
  readonly s = new Float32Array(this.vfpBuffer);
  readonly vi32 = new Int32Array(this.vfpBuffer);

  constructor(readonly mem: GuestMemory) {
    this.regs[S.EXCL_ADDR] = -1;
  }

  get pc(): number { return this.regs[S.PC]! >>> 0; }
  set pc(v: number) { this.regs[S.PC] = v; }
  get thumb(): boolean { return this.regs[S.THUMB] !== 0; }

  /** The full user-mode CPSR: N Z C V Q, IT[7:0] (bits 26:25 and 15:10), GE, T, mode USR. */
  getCpsr(): number {
    const r = this.regs, it = r[S.CONDEXEC]! & 0xff;
    return ((r[S.NF]! < 0 ? 1 : 0) << 31) | ((r[S.ZF] === 0 ? 1 : 0) << 30) | ((r[S.CF]! & 1) << 29) |
      ((r[S.VF]! < 0 ? 1 : 0) << 28) | ((r[S.QF] ? 1 : 0) << 27) | ((it & 3) << 25) | ((r[S.GE]! & 0xf) << 16) |
      ((it >>> 2) << 10) | ((r[S.THUMB]! & 1) << 5) | 0x10;
  }

  /**
   * Restore a full CPSR (e.g. from a signal frame on sigreturn): flags, Q, GE,
   * the Thumb bit and the IT state. The IT state only exists in Thumb state.
   */
  setCpsr(v: number): void {
    this.setCpsrUser(v);
    const thumb = (v >>> 5) & 1;
    this.regs[S.THUMB] = thumb;
    this.regs[S.CONDEXEC] = thumb ? ((v >>> 25) & 3) | ((v >>> 8) & 0xfc) : 0;
  }

  /** CPSR as a signal frame stores it (same as getCpsr, IT state included). */
  cpsr(): number {
    return this.getCpsr();
  }

  setNzcv(v: number): void {
    const r = this.regs;
    r[S.NF] = v & 0x80000000;
    r[S.ZF] = v & 0x40000000 ? 0 : 1;
    r[S.CF] = (v >>> 29) & 1;
    r[S.VF] = (v << 3) & 0x80000000;
  }

  setCpsrUser(v: number): void {
    this.setNzcv(v);
    this.regs[S.QF] = (v >>> 27) & 1;
    this.regs[S.GE] = (v >>> 16) & 0xf;
  }

  fpscr(): number {
    return (this.regs[S.FPNZCV]! & 0xf0000000) | (this.regs[S.FPSCR]! & 0x0fffffff);
  }

  /** VMSR FPSCR: bits 15:8 (trap enables) and 6:5 read as zero, as on qemu-arm's CPU. */
  setFpscr(v: number): void {
    this.regs[S.FPNZCV] = v & 0xf0000000;
    this.regs[S.FPSCR] = v & 0x0fff009f;
  }
}
