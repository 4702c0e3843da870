import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GuestMemory } from '@tsemu/tcg';
import { AddressSpace, ElfError, LinuxProcess, parseElf } from '../src/index.js';

/** A minimal static ARM ELF: one PT_LOAD at 0x10000 holding `code` (entry = code start | thumb). */
function makeElf(code: number[], thumb: boolean): Uint8Array {
  const buf = new Uint8Array(0x100 + code.length * 2);
  const dv = new DataView(buf.buffer);
  buf.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  dv.setUint16(16, 2, true); dv.setUint16(18, 40, true); dv.setUint32(20, 1, true);
  dv.setUint32(24, 0x10100 | (thumb ? 1 : 0), true); dv.setUint32(28, 52, true);
  dv.setUint16(40, 52, true); dv.setUint16(42, 32, true); dv.setUint16(44, 1, true);
  // PT_LOAD: offset 0, vaddr 0x10000, filesz = whole file, memsz + 0x1000 of bss, RX.
  dv.setUint32(52, 1, true); dv.setUint32(56, 0, true); dv.setUint32(60, 0x10000, true); dv.setUint32(64, 0x10000, true);
  dv.setUint32(68, buf.length, true); dv.setUint32(72, buf.length + 0x1000, true); dv.setUint32(76, 5, true); dv.setUint32(80, 0x1000, true);
  code.forEach((hw, i) => dv.setUint16(0x100 + i * 2, hw, true));
  return buf;
}

function runElf(code: number[], argv: string[]): number {
  const dir = mkdtempSync(join(tmpdir(), 'tsemu-lu-'));
  const path = join(dir, 'prog');
  writeFileSync(path, makeElf(code, true));
  const p = new LinuxProcess(path, { argv, env: ['A=1'], memorySize: 64 << 20 });
  return p.run().status;
}

describe('ELF loading and the initial stack', () => {
  it('exits with argc read from the initial stack', () => {
    // ldr r0, [sp]; movs r7, #248 (exit_group); svc 0
    expect(runElf([0x9800, 0x27f8, 0xdf00], ['prog', 'a', 'b'])).toBe(3);
  });

  it('puts argv[1] and a NULL-terminated argv on the stack', () => {
    // ldr r1, [sp, #8] (argv[1]); ldrb r0, [r1]; movs r7, #1 (exit); svc 0
    expect(runElf([0x9902, 0x7808, 0x2701, 0xdf00], ['prog', 'Zed'])).toBe('Z'.charCodeAt(0));
  });

  it('lays the argument strings out in order, contiguous, with the environment right after (what /proc/self/cmdline reads)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsemu-lu-'));
    const path = join(dir, 'prog');
    writeFileSync(path, makeElf([0x2701, 0xdf00], true));
    const argv = ['prog', 'one', '', 'three \u00e9'], env = ['A=1', 'BB=22'];
    const p = new LinuxProcess(path, { argv, env, memorySize: 64 << 20 });
    const dv = p.mem.dv, sp = p.cpu.state.regs[13]!;
    expect(dv.getUint32(sp, true)).toBe(argv.length);
    const ptr = (i: number): number => dv.getUint32(sp + 4 + 4 * i, true);
    const block = Buffer.from(argv.map((a) => a + '\0').join(''), 'utf8');
    expect(ptr(0)).toBe(p.argStart);
    expect(p.argEnd - p.argStart).toBe(block.length);
    expect(Buffer.from(p.mem.u8.subarray(p.argStart, p.argEnd))).toEqual(block);
    for (let i = 1; i < argv.length; i++) expect(ptr(i)).toBe(ptr(i - 1) + Buffer.byteLength(argv[i - 1]!) + 1);
    expect(ptr(argv.length)).toBe(0);
    const envp = (i: number): number => dv.getUint32(sp + 4 + 4 * (argv.length + 1 + i), true);
    expect(envp(0)).toBe(p.argEnd);
    expect(p.mem.readCString(envp(1))).toBe('BB=22');
  });

  it('records the auxiliary vector, the initial stack pointer and argv[0] (what /proc/self/auxv and stat read)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsemu-lu-'));
    const path = join(dir, 'prog');
    writeFileSync(path, makeElf([0x2701, 0xdf00], true));
    const argv = ['/some/dir/a-name-longer-than-15', 'x'], env = ['A=1'];
    const p = new LinuxProcess(path, { argv, env, memorySize: 64 << 20 });
    const dv = p.mem.dv, sp = p.cpu.state.regs[13]!;
    expect(p.startStack).toBe(sp);
    expect(p.argv0).toBe(argv[0]);
    // auxv starts right after envp's NULL and ends with AT_NULL; qemu-arm's order of keys.
    expect(p.auxvStart).toBe(sp + 4 * (1 + argv.length + 1 + env.length + 1));
    const keys: number[] = [];
    for (let a = p.auxvStart; a < p.auxvEnd; a += 8) keys.push(dv.getUint32(a, true));
    expect(keys).toEqual([3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 16, 17, 25, 23, 31, 26, 15, 0]);
    expect(dv.getUint32(p.auxvStart + 4 * 2 * 6 + 4, true)).toBe(0x10101); // AT_ENTRY: the Thumb entry point
  });

  it('answers unknown system calls with ENOSYS', () => {
    // movs r7, #255 (not implemented: 255 is unused); svc 0; rsbs r0, r0, #0; movs r7, #1; svc 0
    expect(runElf([0x27ff, 0xdf00, 0x4240, 0x2701, 0xdf00], ['prog'])).toBe(38);
  });

  it('rejects what is not a 32-bit little-endian ARM executable', () => {
    expect(() => parseElf(new Uint8Array(100))).toThrow(ElfError);
    const x86 = makeElf([0], true);
    new DataView(x86.buffer).setUint16(18, 3, true);
    expect(() => parseElf(x86)).toThrow(/not an ARM executable/);
    const elf64 = makeElf([0], true);
    elf64[4] = 2;
    expect(() => parseElf(elf64)).toThrow(/32-bit/);
  });
});

describe('AddressSpace', () => {
  it('grows brk with zeroed memory and finds free ranges for mmap', () => {
    const mem = new GuestMemory(16 << 20);
    const as = new AddressSpace(mem, 8 << 20);
    as.brkStart = as.brk = 0x100000;
    mem.u8[0x100010] = 0xaa;
    expect(as.setBrk(0x102000)).toBe(0x102000);
    expect(mem.u8[0x100010]).toBe(0);
    expect(as.setBrk(0)).toBe(0x102000);
    const a = as.findFree(0x3000);
    expect(a).toBe(8 << 20);
    as.mark(a, 0x3000, true);
    expect(as.findFree(0x1000)).toBe((8 << 20) + 0x3000);
    expect(as.findFree(64 << 20)).toBe(-1);
  });
});
