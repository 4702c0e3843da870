import { describe, expect, it } from 'vitest';
import { GuestMemory, PERM_MAPPED, PERM_R, PERM_W, PERM_X } from '@tsemu/tcg';
import { AddressSpace, PROT_EXEC, PROT_READ, PROT_WRITE } from '../src/address-space.js';

// The address space mirrors every mapping change into the memory's
// permission table, which the generated code checks on each access.
const page = (mem: GuestMemory, a: number): number => mem.perm[a >>> 12]! & 15;

describe('AddressSpace page protections', () => {
  it('starts with nothing mapped, anywhere in the 32-bit space', () => {
    const mem = new GuestMemory(1 << 20);
    new AddressSpace(mem, 0x80000);
    expect([page(mem, 0), page(mem, 0x8000), page(mem, 0xffff0000)]).toEqual([0, 0, 0]);
  });

  it('map / mprotect / munmap; PROT_WRITE or PROT_EXEC alone still read (as on the x86 hosts qemu-arm runs on)', () => {
    const mem = new GuestMemory(1 << 20);
    const as = new AddressSpace(mem, 0x80000);
    as.map(0x10000, 0x3000, PROT_READ | PROT_WRITE);
    expect(page(mem, 0x12fff)).toBe(PERM_MAPPED | PERM_R | PERM_W);
    expect(as.protect(0x11000, 0x1000, 0)).toBe(true); // PROT_NONE
    expect(page(mem, 0x11000)).toBe(PERM_MAPPED);
    expect(as.protect(0x10000, 0x1000, PROT_EXEC)).toBe(true);
    expect(page(mem, 0x10000)).toBe(PERM_MAPPED | PERM_R | PERM_X);
    expect(as.protect(0x12000, 0x2000, PROT_READ)).toBe(false); // 0x13000 is not mapped: ENOMEM, nothing changes
    expect(page(mem, 0x12000)).toBe(PERM_MAPPED | PERM_R | PERM_W);
    as.unmap(0x10000, 0x3000);
    expect([page(mem, 0x10000), page(mem, 0x11000), as.isMapped(0x12000)]).toEqual([0, 0, false]);
    expect(as.protOf(0x10000)).toBe(-1);
  });

  it('brk grows read+write and gives pages back when it shrinks', () => {
    const mem = new GuestMemory(1 << 20);
    const as = new AddressSpace(mem, 0x80000);
    as.map(0x20000, 0x1000, PROT_READ | PROT_WRITE);
    as.brkStart = as.brk = 0x20800;
    expect(as.setBrk(0x23000)).toBe(0x23000);
    expect(page(mem, 0x22fff)).toBe(PERM_MAPPED | PERM_R | PERM_W);
    expect(as.setBrk(0x21010)).toBe(0x21010);
    expect([as.isMapped(0x21000), as.isMapped(0x22000), page(mem, 0x22000)]).toEqual([true, false, 0]);
  });

  it('a fork restore re-derives the permission table, keeping code-page marks', () => {
    const mem = new GuestMemory(1 << 20);
    const as = new AddressSpace(mem, 0x80000);
    as.map(0x30000, 0x2000, PROT_READ | PROT_EXEC);
    const saved = as.mappedCopy();
    as.unmap(0x30000, 0x2000);
    as.map(0x40000, 0x1000, PROT_READ);
    mem.setCode(0x30, true);
    as.restore([], saved, 0);
    expect([page(mem, 0x30000), page(mem, 0x40000)]).toEqual([PERM_MAPPED | PERM_R | PERM_X, 0]);
    expect(mem.perm[0x30]! & 16).toBe(16);
  });
});
