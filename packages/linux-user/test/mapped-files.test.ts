import { describe, expect, it } from 'vitest';
import { GuestMemory } from '@tsemu/tcg';
import { AddressSpace, PROT_READ, PROT_WRITE } from '../src/address-space.js';
import { MappedFiles } from '../src/mapped-files.js';

const F = { path: '/x/prog', dev: 0xfe00, ino: 42 }, G = { path: '/x/data', dev: 0x801, ino: 7 };

describe('MappedFiles: which pages show a file in /proc/self/maps', () => {
  it('mprotect keeps a page\'s file, unmap and a fresh map make it anonymous', () => {
    const as = new AddressSpace(new GuestMemory(1 << 24), 0x100000);
    as.map(0x10000, 0x4000, PROT_READ);
    as.files.set(0x10, 4, as.files.fileIndex(F), 0);
    expect(as.protect(0x11000, 0x1000, PROT_READ | PROT_WRITE)).toBe(true);
    expect([as.files.fileOf(0x11), as.files.filePageOf(0x11)]).toEqual([0, 1]);
    as.unmap(0x12000, 0x1000);
    expect(as.files.fileOf(0x12)).toBe(-1);
    as.map(0x13000, 0x1000, PROT_READ);
    expect(as.files.fileOf(0x13)).toBe(-1);
    expect(as.files.fileOf(0x10)).toBe(0);
  });

  it('runs() and restore() carry the table over (a forked child); move() follows mremap', () => {
    const a = new MappedFiles(64);
    const f = a.fileIndex(F), g = a.fileIndex(G);
    expect(a.fileIndex({ ...F })).toBe(f);
    a.set(2, 3, f, 0);
    a.set(5, 2, f, 9); // the same file, not contiguous in it: a run of its own
    a.set(10, 1, g, 4);
    expect(a.runs()).toEqual([2, 3, f, 0, 5, 2, f, 9, 10, 1, g, 4]);
    const b = new MappedFiles(64);
    b.restore(a.files, a.runs());
    expect(b.runs()).toEqual(a.runs());
    expect(b.files).toEqual([F, G]);
    b.move(2, 40, 3);
    expect([b.fileOf(2), b.fileOf(40), b.filePageOf(42)]).toEqual([-1, f, 2]);
  });
});
