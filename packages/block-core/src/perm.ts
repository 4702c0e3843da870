// QEMU's block permissions, as far as other processes see them: image locking.
// Each node asks its children for permissions (`perm`) and says which ones it
// cannot let anybody else hold (`deny`, QEMU's complement of "shared"). The
// file driver turns them into OFD locks on bytes 100+bit (held) and 200+bit
// (denied) of the image file, exactly where QEMU 7.2 puts them, so tsemu and
// QEMU refuse each other's conflicting opens (`qemu-img info` on an image a
// writer has open: `Failed to get shared "write" lock`).

export const PERM_CONSISTENT_READ = 1 << 0;
export const PERM_WRITE = 1 << 1;
export const PERM_WRITE_UNCHANGED = 1 << 2;
export const PERM_RESIZE = 1 << 3;
/** The bits QEMU 7.2 locks, lowest first. */
export const PERM_BITS = 4;
/** QEMU's words for each bit, as its lock errors print them. */
export const PERM_NAMES: readonly string[] = ['consistent read', 'write', 'write unchanged', 'resize'];

/** What a parent asks of a node. */
export interface PermRequest {
  perm: number;
  deny: number;
}

/** What the tool asks of the top node (QEMU's BlockBackend): it shares everything. */
export function rootRequest(readOnly: boolean, noIo: boolean, resize: boolean): PermRequest {
  let perm = noIo ? 0 : PERM_CONSISTENT_READ;
  if (!readOnly) perm |= PERM_WRITE | (resize ? PERM_RESIZE : 0);
  return { perm, deny: 0 };
}

/**
 * What a node asks of its child, from what its own parent asks of it (QEMU's
 * default child permissions): raw and filters pass the request through; a
 * backing file is only read and shares everything; any other format keeps
 * metadata in its file, so it needs write and resize there when writable
 * and lets nobody else write or resize it (unless forced to share, -U).
 */
export function childRequest(
  parentDriver: { name: string; kind: string }, role: string, own: PermRequest, childReadOnly: boolean, forceShare: boolean,
): PermRequest {
  const read = own.perm & PERM_CONSISTENT_READ;
  if (role === 'backing') return { perm: read, deny: 0 };
  if (parentDriver.name === 'raw' || parentDriver.kind !== 'format') {
    return { perm: childReadOnly ? read : own.perm, deny: own.deny };
  }
  return {
    perm: read | (childReadOnly ? 0 : PERM_WRITE | PERM_RESIZE),
    deny: forceShare ? 0 : PERM_WRITE | PERM_RESIZE,
  };
}

/** QEMU's temporary locks while a file is created: write and resize held, resize denied. */
export const CREATE_REQUEST: PermRequest = { perm: PERM_WRITE | PERM_RESIZE, deny: PERM_RESIZE };
