import { closeSync, writeSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { caughtSignals, hostProc, SIGNAL_CATCH, SIGNAL_DEFAULT } from '@tsemu/host-io';

// Signals caught for an emulated guest (native/proc.c): the pending word, the
// sender, and blocking calls that give way to them with -EINTR.
const SIGUSR2 = 12, SIGALRM = 14, SIGSEGV = 11, SIGCHLD = 17, EINTR = 4, EINVAL = 22, ITIMER_REAL = 0;

function pipe(): [number, number] {
  const p = hostProc.pipe2(0);
  if (typeof p === 'number') throw new Error(`pipe2: ${p}`);
  return p;
}

describe('host-io caught signals', () => {
  test('the loaded addon has them', () => {
    expect(hostProc.signals).toBe(true);
  });

  test('a caught signal sets its bit and records the sender', () => {
    expect(hostProc.setSignal(SIGUSR2, SIGNAL_CATCH)).toBe(0);
    try {
      Atomics.exchange(caughtSignals, 0, 0);
      process.kill(process.pid, 'SIGUSR2');
      expect(caughtSignals[0]! & (1 << (SIGUSR2 - 1))).not.toBe(0);
      expect(caughtSignals[1 + SIGUSR2]).toBe(process.pid);
      expect(caughtSignals[33 + SIGUSR2]).toBe(process.getuid?.() ?? 0);
    } finally {
      hostProc.setSignal(SIGUSR2, SIGNAL_DEFAULT);
      Atomics.exchange(caughtSignals, 0, 0);
    }
  });

  test('faults, SIGKILL and SIGCHLD cannot be taken over', () => {
    for (const s of [SIGSEGV, 9, SIGCHLD, 0, 32]) expect(hostProc.setSignal(s, SIGNAL_CATCH)).toBe(-EINVAL);
  });

  test('an itimer SIGALRM interrupts a read that blocks on an empty pipe: -EINTR', () => {
    const [r, w] = pipe();
    expect(hostProc.setSignal(SIGALRM, SIGNAL_CATCH)).toBe(0);
    try {
      Atomics.exchange(caughtSignals, 0, 0);
      const old = new Int32Array(4);
      expect(hostProc.itimer(ITIMER_REAL, Int32Array.of(0, 0, 0, 20_000), old)).toBe(0);
      const buf = new Uint8Array(16);
      expect(hostProc.read(r, buf, 0, 16)).toBe(-EINTR);
      expect(caughtSignals[0]! & (1 << (SIGALRM - 1))).not.toBe(0);
      // The timer was one-shot: getitimer reports it disarmed.
      expect(hostProc.itimer(ITIMER_REAL, null, old)).toBe(0);
      expect([...old]).toEqual([0, 0, 0, 0]);
      // With data there, read returns it (the word is cleared first, as the emulator does).
      Atomics.exchange(caughtSignals, 0, 0);
      writeSync(w, 'hi');
      expect(hostProc.read(r, buf, 3, 16)).toBe(2);
      expect(Buffer.from(buf.subarray(3, 5)).toString()).toBe('hi');
    } finally {
      hostProc.setSignal(SIGALRM, SIGNAL_DEFAULT);
      Atomics.exchange(caughtSignals, 0, 0);
      closeSync(r);
      closeSync(w);
    }
  });

  test('poll gives way to a caught signal too', () => {
    const [r, w] = pipe();
    expect(hostProc.setSignal(SIGALRM, SIGNAL_CATCH)).toBe(0);
    try {
      Atomics.exchange(caughtSignals, 0, 0);
      expect(hostProc.itimer(ITIMER_REAL, Int32Array.of(0, 0, 0, 20_000), new Int32Array(4))).toBe(0);
      expect(hostProc.poll(Int32Array.of(r, 1, 0), -1)).toBe(-EINTR);
    } finally {
      hostProc.setSignal(SIGALRM, SIGNAL_DEFAULT);
      Atomics.exchange(caughtSignals, 0, 0);
      closeSync(r);
      closeSync(w);
    }
  });
});
