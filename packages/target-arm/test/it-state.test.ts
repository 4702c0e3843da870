import { describe, expect, it } from 'vitest';
import { EXIT_FAULT, GuestMemory } from '@tsemu/tcg';
import { ArmCpu, EXIT_EXCEPTION, Excp, S } from '../src/index.js';

// Thumb IT state across TB ends: a block split by the TB length limit, and an
// SVC in the middle of an IT block (the state is in the CPSR while the
// syscall runs, survives a save/restore through get/setCpsr, and the rest of
// the block stays conditional). Every back-end mode must agree.
const CODE = 0x1000;
const MODES = [
  { interpret: true, optimize: false }, { interpret: false, optimize: false, hotThreshold: 0 },
  { interpret: true, optimize: true }, { interpret: false, optimize: true, hotThreshold: 0 },
];

function load(halfwords: number[], r0: number, mode: object, base = CODE): ArmCpu {
  const mem = new GuestMemory(0x10000);
  halfwords.forEach((h, i) => mem.st16(base + 2 * i, h));
  const cpu = new ArmCpu(mem, mode);
  cpu.state.regs[0] = r0;
  cpu.state.regs[S.PC] = base;
  cpu.state.regs[S.THUMB] = 1;
  return cpu;
}

describe('IT state across TB ends', () => {
  // movs r4,#0; 60 x adds r4,#1; cmp r0,#1; itete eq; add r4,#10 / #20 / #40 / #80; svc 0
  const FILL = 60;
  const split = [0x2400, ...Array<number>(FILL).fill(0x3401), 0x2801, 0xbf0b, 0x340a, 0x3414, 0x3428, 0x3450, 0xdf00];
  const itAddr = CODE + 2 * (FILL + 2);

  it('a TB ending inside an IT block resumes with the remaining condition state', () => {
    for (const mode of MODES) {
      for (const [r0, want] of [[1, FILL + 10 + 40], [0, FILL + 20 + 80]] as const) {
        const cpu = load(split, r0, mode);
        // The 64-instruction limit falls after the first instruction of the IT block.
        expect(cpu.translate(CODE, 1).end).toBe(itAddr + 4);
        expect(cpu.run()).toBe(EXIT_EXCEPTION);
        expect(cpu.state.regs[4]).toBe(want);
        expect(cpu.state.regs[S.CONDEXEC]).toBe(0);
        expect(cpu.cache.insnsExecuted).toBe(FILL + 3 + 4 + 1);
      }
    }
  });

  it('a TB ending at a page boundary inside an IT block resumes with the remaining condition state', () => {
    // cmp r0,#1; itete eq; add r4,#10; add r4,#20 | next page: add r4,#40; add r4,#80; svc 0
    // A TB runs on into the next page only when that page is executable: here
    // it is not at first (the fetch faults after the split), then it becomes so.
    const base = 0x2000 - 8, code = [0x2801, 0xbf0b, 0x340a, 0x3414, 0x3428, 0x3450, 0xdf00];
    for (const mode of MODES) {
      for (const [r0, want] of [[1, 50], [0, 100]] as const) {
        const cpu = load(code, r0, mode, base);
        expect(cpu.translate(base, 1).end).toBe(0x2000 + 6);
        cpu.mem.protect(2, 2, 3);
        expect(cpu.translate(base, 1).end).toBe(0x2000);
        expect(cpu.run()).toBe(EXIT_FAULT);
        expect(cpu.state.regs[S.PC] >>> 0).toBe(0x2000);
        cpu.mem.protect(2, 2, 7);
        expect(cpu.run()).toBe(EXIT_EXCEPTION);
        expect(cpu.state.regs[4]).toBe(want);
      }
    }
  });

  // cmp r0,#0; ittee eq; add r4,#1; svc 0; add r4,#16; add r4,#32; svc 1
  const svc = [0x2800, 0xbf07, 0x3401, 0xdf00, 0x3410, 0x3420, 0xdf01];

  it('an SVC inside an IT block leaves the IT state in the CPSR and the block resumes after it', () => {
    for (const mode of MODES) {
      const cpu = load(svc, 0, mode);
      expect(cpu.run()).toBe(EXIT_EXCEPTION);
      expect([cpu.state.regs[S.EXCP], cpu.state.regs[S.EXCP_ARG], cpu.state.pc]).toEqual([Excp.SWI, 0, CODE + 8]);
      // ITSTATE after two of four instructions: cond EQ, mask advanced twice = 0x1c (IT[7:2] in CPSR bits 15:10).
      const cpsr = cpu.state.getCpsr();
      expect(cpsr & 0x0600fc00).toBe(0x1c << 8);
      expect(cpu.flags() >>> 1).toBe(0x1c);
      // A signal frame would save and restore the CPSR around a handler running outside the block.
      cpu.state.setCpsr(0x30);
      expect(cpu.flags()).toBe(1);
      cpu.state.setCpsr(cpsr);
      expect(cpu.run()).toBe(EXIT_EXCEPTION);
      expect([cpu.state.regs[S.EXCP_ARG], cpu.state.regs[4]]).toEqual([1, 1]);
      expect(cpu.state.getCpsr() & 0x0600fc00).toBe(0);

      const other = load(svc, 5, mode); // condition fails: the first svc is skipped, the 'else' adds run
      expect(other.run()).toBe(EXIT_EXCEPTION);
      expect([other.state.regs[S.EXCP_ARG], other.state.regs[4]]).toEqual([1, 48]);
    }
  });

  it('a memory fault inside an IT block reports the IT state, and resuming there keeps the block conditional', () => {
    // movs r1,#1; lsls r1,r1,#15; cmp r0,#0; itte eq; add r4,#1; ldr r2,[r1]; add r4,#2; svc 0   (page 0x8000 unmapped)
    const code = [0x2101, 0x03c9, 0x2800, 0xbf06, 0x3401, 0x680a, 0x3402, 0xdf00];
    for (const mode of MODES) {
      const cpu = load(code, 0, mode), mem = cpu.mem;
      mem.protect(0x8, 0x8, 0, false);
      expect(cpu.run()).toBe(EXIT_FAULT);
      expect(mem.faultPc).toBe(CODE + 10);
      // The load's ITSTATE: cond EQ, mask advanced once = 0x0c.
      expect(cpu.state.getCpsr() & 0x0600fc00).toBe(0x0c << 8);
      mem.clearFault();
      mem.protect(0x8, 0x8, 3);
      cpu.state.regs[S.PC] = mem.faultPc;
      expect(cpu.run()).toBe(EXIT_EXCEPTION);
      expect(cpu.state.regs[4]).toBe(1);
    }
  });

  it('MRS does not show the execution state bits and setCpsr clears IT in ARM state', () => {
    const cpu = load(svc, 0, {});
    cpu.state.setCpsr(0xf8000030 | (3 << 25) | (0x3f << 10));
    expect(cpu.state.regs[S.CONDEXEC]).toBe(0xff);
    expect(cpu.helpers.getCpsr.fn() as number >>> 0).toBe(0xf8000010);
    cpu.state.setCpsr(0x10 | (3 << 25));
    expect([cpu.state.regs[S.CONDEXEC], cpu.state.regs[S.THUMB]]).toEqual([0, 0]);
  });
});
