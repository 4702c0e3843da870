import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, PROGRAMS, requireTool, runQemu, runTsemu, tempDir } from './harness.js';

// Memory protection and signal delivery, compared with qemu-arm-static on
// stdout, stderr (the "qemu: uncaught target signal" line), exit status and
// the signal the process died of. programs/signals/ holds the C sources:
// handlers.c catches every kind of fault and prints what its handlers saw;
// fatal.c dies the way its argument says.
const DIR = join(PROGRAMS, 'signals');
const FATAL = [
  'null-read', 'null-write', 'rodata', 'noexec', 'prot-none', 'overflow', 'abort', 'ill', 'linux-bkpt', 'trap',
  'blocked-segv', 'handler-refaults', 'ignored-segv', 'unaligned-ldrd', 'unaligned-vldr', 'vldm-segv', 'vpush-ro', 'fpe', 'term', 'usr1', 'kill', 'resethand', 'none',
];

describe('guest faults and signals like qemu-arm', () => {
  let dir = '';
  beforeAll(() => {
    requireTool('arm-linux-gnueabihf-gcc');
    requireTool('qemu-arm-static');
    dir = tempDir();
    for (const mode of ['thumb', 'arm'] as const) compile(join(DIR, 'fatal.c'), join(dir, `fatal-${mode}`), mode);
  });

  for (const mode of ['thumb', 'arm'] as const) {
    it(`handlers.c (-m${mode}): SIGSEGV / SIGBUS / SIGILL / SIGFPE handlers, retry, sigaltstack, siginfo`, () => {
      const exe = join(dir, `handlers-${mode}`);
      compile(join(DIR, 'handlers.c'), exe, mode);
      const q = runQemu([exe], dir);
      const t = runTsemu([exe], dir);
      expect(t.stdout).toBe(q.stdout);
      expect(t.stderr).toBe(q.stderr);
      expect({ status: t.status, signal: t.signal }).toEqual({ status: q.status, signal: q.signal });
      // Not vacuous: the program really saw the faults.
      expect(t.stdout).toMatch(/null read: sig 11 code SEGV_MAPERR/);
      expect(t.stdout).toMatch(/stack overflow: sig 11 on alternate stack 1/);
    });

    for (const c of FATAL) {
      it(`fatal.c ${c} (-m${mode}): qemu's message, exit status and signal`, () => {
        const exe = join(dir, `fatal-${mode}`);
        const q = runQemu([exe, c], dir);
        const t = runTsemu([exe, c], dir);
        expect({ out: t.stdout, err: t.stderr, status: t.status, signal: t.signal })
          .toEqual({ out: q.stdout, err: q.stderr, status: q.status, signal: q.signal });
      });
    }
  }

  it('the interpreter tier faults at the same places (-interp)', () => {
    const exe = join(dir, 'handlers-interp');
    compile(join(DIR, 'handlers.c'), exe, 'thumb');
    const q = runQemu([exe], dir);
    const t = runTsemu(['-interp', exe], dir);
    expect(t.stdout).toBe(q.stdout);
  });
});
