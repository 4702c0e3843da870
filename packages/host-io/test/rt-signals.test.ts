import { closeSync, readSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { CAUGHT_RT, caughtSignals, hostProc, SIGNAL_CATCH, SIGNAL_DEFAULT, SIGNAL_IGNORE } from '@tsemu/host-io';

// Real-time signals caught for a guest, and spawn keeping ignored signals and
// a given mask (what execve does), in native/proc.c.
const SIGHUP = 1, SIGUSR2 = 12, EINVAL = 22;
const status = new Int32Array(1);

function statusOf(pid: number, fd: number): string {
  const buf = Buffer.alloc(8192);
  let out = '';
  for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) out += buf.toString('latin1', 0, n);
  expect(hostProc.waitpid(pid, 0, status)).toBe(pid);
  return out;
}

const field = (text: string, name: string): bigint => BigInt('0x' + new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'm').exec(text)![1]);

describe('host-io real-time signals and spawn dispositions', () => {
  test('SIGRTMIN+2 (36) is caught with its sender and si_code; glibc\'s 32 and 33 are refused', () => {
    for (const s of [32, 33, 65]) expect(hostProc.setSignal(s, SIGNAL_CATCH)).toBe(-EINVAL);
    expect(hostProc.setSignal(36, SIGNAL_CATCH)).toBe(0);
    try {
      Atomics.exchange(caughtSignals, 0, 0);
      Atomics.exchange(caughtSignals, CAUGHT_RT, 0);
      process.kill(process.pid, 36);
      expect(caughtSignals[0]! & (1 << 31)).not.toBe(0); // "look at the real-time word"
      expect(caughtSignals[CAUGHT_RT]).toBe(1 << (36 - 33));
      expect(caughtSignals[CAUGHT_RT + 1 + 3]).toBe(process.pid);
      expect(caughtSignals[CAUGHT_RT + 33 + 3]).toBe(process.getuid?.() ?? 0);
      expect(caughtSignals[CAUGHT_RT + 65 + 3]).toBe(0); // SI_USER
    } finally {
      hostProc.setSignal(36, SIGNAL_DEFAULT);
      Atomics.exchange(caughtSignals, 0, 0);
      Atomics.exchange(caughtSignals, CAUGHT_RT, 0);
    }
  });

  test('spawn with signal attributes: ignored signals stay ignored, the rest default, the mask as given', () => {
    expect(hostProc.setSignal(SIGUSR2, SIGNAL_IGNORE)).toBe(0);
    expect(hostProc.setSignal(40, SIGNAL_IGNORE)).toBe(0);
    try {
      const keep = (1 << (SIGUSR2 - 1)), keepHi = 1 << (40 - 33), mask = 1 << (SIGHUP - 1);
      const run = (attrs?: Int32Array): string => {
        const p = hostProc.pipe2(0);
        if (typeof p === 'number') throw new Error(`pipe2: ${p}`);
        const pid = hostProc.spawn('/bin/cat', ['cat', '/proc/self/status'], [], Int32Array.from([1, p[1]]), attrs);
        expect(pid).toBeGreaterThan(0);
        closeSync(p[1]);
        try { return statusOf(pid, p[0]); } finally { closeSync(p[0]); }
      };
      const kept = run(Int32Array.of(~keep, ~keepHi, mask, 0));
      expect(field(kept, 'SigIgn') & (1n << 11n)).not.toBe(0n); // USR2
      expect(field(kept, 'SigIgn') & (1n << 39n)).not.toBe(0n); // 40
      expect(field(kept, 'SigBlk')).toBe(1n); // HUP
      const plain = run(); // without: everything back to SIG_DFL, nothing blocked
      expect(field(plain, 'SigIgn') & ((1n << 11n) | (1n << 39n))).toBe(0n);
      expect(field(plain, 'SigBlk')).toBe(0n);
    } finally {
      hostProc.setSignal(SIGUSR2, SIGNAL_DEFAULT);
      hostProc.setSignal(40, SIGNAL_DEFAULT);
    }
  });
});
