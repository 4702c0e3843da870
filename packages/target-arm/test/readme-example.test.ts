import { expect, it } from 'vitest';
import { GuestMemory } from '@tsemu/tcg';
import { ArmCpu, EXIT_EXCEPTION, S } from '../src/index.js';

it('runs the README example', () => {
  const mem = new GuestMemory(1 << 16);
  [0x202a, 0x1800, 0xdf00].forEach((hw, i) => mem.st16(0x1000 + 2 * i, hw));
  const cpu = new ArmCpu(mem);
  cpu.state.regs[S.PC] = 0x1000;
  cpu.state.regs[S.THUMB] = 1;
  expect(cpu.run()).toBe(EXIT_EXCEPTION);
  expect(cpu.state.regs[0]).toBe(84);
  expect(cpu.cache.insnsExecuted).toBe(3);
});
