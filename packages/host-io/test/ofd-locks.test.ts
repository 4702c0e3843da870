// OFD locks as QEMU's image locking uses them: shared locks on single bytes,
// tested from another open file description of the same file.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { hostIo, OFD_EXCLUSIVE, OFD_SHARED, OFD_UNLOCK } from '@tsemu/host-io';

const dir = mkdtempSync(join(tmpdir(), 'host-io-ofd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('a shared lock is seen from another open of the file, not from its own', async () => {
  expect(hostIo.ofdLocks).toBe(true);
  const path = join(dir, 'img');
  writeFileSync(path, new Uint8Array(512));
  const a = await open(path, 'r+');
  const b = await open(path, 'r+');
  try {
    expect(hostIo.ofdLock(a.fd, 101, 1, OFD_SHARED)).toBe(0);
    expect(hostIo.ofdTest(a.fd, 101, 1)).toBe(0); // its own lock never conflicts
    expect(hostIo.ofdTest(b.fd, 101, 1)).toBe(1);
    expect(hostIo.ofdTest(b.fd, 102, 1)).toBe(0); // one byte only
    expect(hostIo.ofdLock(b.fd, 101, 1, OFD_SHARED)).toBe(0); // shared locks coexist
    expect(hostIo.ofdLock(b.fd, 101, 1, OFD_EXCLUSIVE)).toBe(-11); // EAGAIN: a holds it
    expect(hostIo.ofdLock(a.fd, 101, 1, OFD_UNLOCK)).toBe(0);
    expect(hostIo.ofdTest(b.fd, 101, 1)).toBe(0);
    expect(hostIo.ofdTest(a.fd, 101, 1)).toBe(1); // b's shared lock is still there
  } finally {
    await a.close();
    await b.close();
  }
  // Closing the descriptions dropped every lock.
  const c = await open(path, 'r');
  try {
    expect(hostIo.ofdTest(c.fd, 100, 4)).toBe(0);
  } finally {
    await c.close();
  }
});

test('bad arguments answer -EINVAL, a closed fd -EBADF', () => {
  expect(hostIo.ofdLock(0, 100, 1, 7)).toBe(-22);
  expect(hostIo.ofdTest(-1, 100, 1)).toBe(-9);
});
