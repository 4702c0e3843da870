import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';

// Random bytes for AT_RANDOM and getrandom(2). Every glibc guest needs a few
// at start-up (16 for AT_RANDOM, 4 more from getrandom in busybox), and
// loading node:crypto for them cost ~3.5 ms of each run's start-up (and of
// every guest fork's); one read of /dev/urandom costs ~0.05 ms. crypto stays
// the fallback where /dev/urandom cannot be read. The descriptor is closed at
// once so the host fd table stays as the guest's descriptor table expects.

/** Fill u8[off, off + len) with random bytes. */
export function fillRandom(u8: Uint8Array, off: number, len: number): void {
  let done = 0;
  try {
    const fd = openSync('/dev/urandom', 'r');
    try {
      while (done < len) {
        const n = readSync(fd, u8, off + done, len - done, null);
        if (n <= 0) break;
        done += n;
      }
    } finally {
      closeSync(fd);
    }
  } catch {
    // no /dev/urandom (a sandbox, another OS): crypto fills the rest below
  }
  if (done < len) randomFillSync(u8, off + done, len - done);
}
