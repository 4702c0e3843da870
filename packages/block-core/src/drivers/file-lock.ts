// QEMU 7.2's image locking on a host file: a shared OFD lock on byte 100+bit
// for each permission held and on byte 200+bit for each one denied to others
// (see ../perm.ts). Taking the locks never fails on another process's shared
// locks; the conflicts are found by testing the opposite bytes afterwards,
// in QEMU's order, so the first complaint is the one QEMU prints.
import { hostIo, OFD_SHARED, OFD_UNLOCK } from '@tsemu/host-io';
import { BlockError } from '../errors.js';
import { PERM_BITS, PERM_NAMES, type PermRequest } from '../perm.js';

const HELD_BASE = 100;
const DENIED_BASE = 200;

/** Whether this host can lock images (the addon has OFD locks). */
export const imageLocking = hostIo.ofdLocks;

/** Sets the lock bytes to exactly `req` (releasing the others). */
function setBytes(fd: number, req: PermRequest): void {
  for (let bit = 0; bit < PERM_BITS; bit++) {
    const held = hostIo.ofdLock(fd, HELD_BASE + bit, 1, (req.perm >> bit) & 1 ? OFD_SHARED : OFD_UNLOCK);
    if (held < 0 && held !== -11) throw new BlockError('EIO', `Failed to lock byte ${HELD_BASE + bit}`);
    const denied = hostIo.ofdLock(fd, DENIED_BASE + bit, 1, (req.deny >> bit) & 1 ? OFD_SHARED : OFD_UNLOCK);
    if (denied < 0 && denied !== -11) throw new BlockError('EIO', `Failed to lock byte ${DENIED_BASE + bit}`);
  }
}

/** QEMU's complaint about the first conflict with another opener, or undefined. */
function conflict(fd: number, req: PermRequest): string | undefined {
  for (let bit = 0; bit < PERM_BITS; bit++) {
    if ((req.perm >> bit) & 1 && hostIo.ofdTest(fd, DENIED_BASE + bit, 1) === 1) return `Failed to get "${PERM_NAMES[bit]}" lock`;
  }
  for (let bit = 0; bit < PERM_BITS; bit++) {
    if ((req.deny >> bit) & 1 && hostIo.ofdTest(fd, HELD_BASE + bit, 1) === 1) return `Failed to get shared "${PERM_NAMES[bit]}" lock`;
  }
  return undefined;
}

/**
 * Moves fd's locks from `old` (null: none yet) to `req`. On a conflict the old
 * locks are restored and QEMU's error is thrown, with its hint line.
 */
export function relock(fd: number, old: PermRequest | null, req: PermRequest, filename: string): void {
  setBytes(fd, { perm: req.perm | (old?.perm ?? 0), deny: req.deny | (old?.deny ?? 0) });
  const why = conflict(fd, req);
  setBytes(fd, why === undefined ? req : old ?? { perm: 0, deny: 0 });
  if (why !== undefined) throw new BlockError('EAGAIN', `${why}\nIs another process using the image [${filename}]?`);
}
