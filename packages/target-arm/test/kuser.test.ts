import { expect, it } from 'vitest';
import { GuestMemory } from '@tsemu/tcg';
import { ArmCpu, EXIT_EXCEPTION, S } from '../src/index.js';

// The kernel user helpers at 0xffff0fxx, called the way old binaries do: blx to the fixed address.
it('get_tls and cmpxchg kuser helpers return to lr with the kernel ABI results', () => {
  const mem = new GuestMemory(1 << 16);
  const cpu = new ArmCpu(mem);
  const r = cpu.state.regs;
  // As if called with blx: lr = return address, pc = the helper.
  mem.st32(0x1008, 0xef000000); // svc 0
  r[S.TLS] = 0x12345;
  r[S.LR] = 0x1008;
  r[S.PC] = 0xffff0fe0 | 0;
  expect(cpu.run()).toBe(EXIT_EXCEPTION);
  expect(r[0]).toBe(0x12345);
  // cmpxchg: r0 old, r1 new, r2 ptr; success gives r0 = 0 and C set.
  mem.st32(0x2000, 7);
  Object.assign(r, { 0: 7, 1: 9, 2: 0x2000 });
  r[S.LR] = 0x1008;
  r[S.PC] = 0xffff0fc0 | 0;
  cpu.run();
  expect([r[0], r[S.CF], mem.ld32(0x2000)]).toEqual([0, 1, 9]);
  r[0] = 7; // stale expected value: fails, memory unchanged
  r[S.LR] = 0x1008;
  r[S.PC] = 0xffff0fc0 | 0;
  cpu.run();
  expect([r[0] !== 0, r[S.CF], mem.ld32(0x2000)]).toEqual([true, 0, 9]);
});
