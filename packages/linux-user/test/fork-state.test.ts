import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostProc } from '@tsemu/host-io';
import { LinuxProcess } from '../src/index.js';
import { FORK_STATE_ENV, forkSlots, writeForkState } from '../src/fork-state.js';

/** A static ARM ELF with one PT_LOAD at 0x10000 (never run here: only its state is handed over). */
function tinyElf(): Uint8Array {
  const buf = new Uint8Array(0x200);
  const dv = new DataView(buf.buffer);
  buf.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  dv.setUint16(16, 2, true); dv.setUint16(18, 40, true); dv.setUint32(20, 1, true);
  dv.setUint32(24, 0x10100, true); dv.setUint32(28, 52, true);
  dv.setUint16(40, 52, true); dv.setUint16(42, 32, true); dv.setUint16(44, 1, true);
  dv.setUint32(52, 1, true); dv.setUint32(60, 0x10000, true); dv.setUint32(64, 0x10000, true);
  dv.setUint32(68, buf.length, true); dv.setUint32(72, buf.length + 0x1000, true); dv.setUint32(76, 7, true); dv.setUint32(80, 0x1000, true);
  return buf;
}

describe('fork state hand-over (what a spawned child tsemu-arm resumes from)', () => {
  it('carries registers, memory, mappings, descriptors and signal state; the child sees fork() = 0', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsemu-fork-'));
    const exe = join(dir, 'prog');
    writeFileSync(exe, tinyElf());
    writeFileSync(join(dir, 'data'), 'x');
    const opts = { argv: ['prog'], env: [], memorySize: 64 << 20 };
    const parent = new LinuxProcess(exe, opts);
    const r = parent.cpu.state.regs;
    for (let i = 0; i < 15; i++) r[i] = 0x1000 * i + 7;
    parent.cpu.state.d[3] = 2.5;
    // An anonymous mapping with a pattern, and one left all zero (skipped in the file, still mapped).
    parent.as.map(0x200000, 0x3000, 3);
    parent.mem.u8.fill(0xa5, 0x201000, 0x201010);
    parent.as.map(0x300000, 0x1000, 1);
    parent.as.setBrk(parent.as.brk + 0x5000);
    // Descriptors: a file at 3, dup'd to 9 (shared), 4 close-on-exec.
    const dv = parent.mem.dv, path = 0x201800;
    parent.mem.write(path, Buffer.from(join(dir, 'data') + '\0'));
    expect(parent.fs.openat(-100, path, 0, 0)).toBe(3);
    expect(parent.fs.dup2(3, 9)).toBe(9);
    expect(parent.fs.openat(-100, path, 0x80000, 0)).toBe(4);
    // SIGUSR1 handled, SIGUSR2 blocked.
    dv.setUint32(0x201900, 0x12345, true); dv.setUint32(0x201904, 0x04000000, true); dv.setUint32(0x201908, 0x23456, true);
    dv.setBigUint64(0x20190c, 1n << 3n, true);
    expect(parent.signals.sigaction(10, 0x201900, 0)).toBe(0);
    parent.signals.blocked = 1n << 11n;

    const memfd = hostProc.memfd();
    expect(memfd).toBeGreaterThan(2);
    writeForkState(parent, memfd, forkSlots(parent.fs.fds).slotOf, 0x201ff0);
    process.env[FORK_STATE_ENV] = String(memfd);
    const child = new LinuxProcess(exe, opts); // reads (and closes) the state instead of loading the ELF
    expect(process.env[FORK_STATE_ENV]).toBeUndefined();

    const cr = child.cpu.state.regs;
    expect(cr[0]).toBe(0);
    for (let i = 1; i < 15; i++) expect(cr[i]).toBe(r[i]);
    expect(cr[15]).toBe(r[15]);
    expect(child.cpu.state.d[3]).toBe(2.5);
    expect(child.mem.u8.subarray(0x201000, 0x201010).every((b) => b === 0xa5)).toBe(true);
    expect(child.mem.u8.subarray(0x10000, 0x10200)).toEqual(parent.mem.u8.subarray(0x10000, 0x10200));
    expect(child.as.isMapped(0x300000) && child.as.protOf(0x300000)).toBe(1);
    expect(child.as.isMapped(0x400000)).toBe(false);
    expect(child.as.brk).toBe(parent.as.brk);
    expect(child.mem.dv.getInt32(0x201ff0, true)).toBe(process.pid); // CLONE_CHILD_SETTID
    // Guest 3 and 9 share one open file, placed by spawn at the lower number.
    const f3 = child.fs.fds.get(3)!;
    expect(f3.host).toBe(3);
    expect(child.fs.fds.get(9)).toBe(f3);
    expect(f3.refs).toBe(2);
    expect(child.fs.fds.get(4)!.host).toBe(4);
    expect([...child.fs.cloexec]).toEqual([4]);
    expect([...child.fs.fds.keys()].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 9]);
    expect(child.signals.actions[10]).toEqual({ handler: 0x12345, flags: 0x04000000, restorer: 0x23456, mask: 8n });
    expect(child.signals.blocked).toBe(1n << 11n);
  });
});
