// Re-reading the inode after a reconnect or a READONLY answer (QEMU's
// reload_inode, ~1.7). If the VDI is still ours, our own allocations win over
// the daemon's copy: an allocation whose inode update was cut off by the
// failure is still recorded locally and is about to be resent. If the name
// now resolves to another vid (a snapshot was taken under us), that vid and
// its inode are adopted whole: our old objects become COW sources.
import { inodeOidHi } from '../wire/oid.js';
import { SD_INODE_SIZE, SD_INODE_HEADER_SIZE, INODE_DATA_VDI_ID } from '../wire/inode.js';
import { findVdi, readObject } from './vdi-ops.js';
import type { SheepdogLocation } from './location.js';

export interface ReloadTarget {
  location: SheepdogLocation;
  inode: Buffer;
  vid: number;
  /** Opened snapshot not yet branched: look it up by snapshot id / tag, not by name. */
  isSnapshot: boolean;
  cacheFlags: number;
}

/** Looks the VDI up again (locking it when `lock`), reads its inode, merges; returns the vid now in use. */
export async function reloadInode(t: ReloadTarget, lock: boolean): Promise<number> {
  const loc = t.location;
  const vid = t.isSnapshot
    ? await findVdi(loc.address, loc.vdi, loc.snapId, loc.tag, false)
    : await findVdi(loc.address, loc.vdi, 0, '', lock);
  const remote = Buffer.alloc(SD_INODE_SIZE);
  await readObject(loc.address, inodeOidHi(vid), 0, 0, 0, remote, t.cacheFlags);
  if (vid !== t.vid) {
    remote.copy(t.inode);
    return vid;
  }
  remote.copy(t.inode, 0, 0, SD_INODE_HEADER_SIZE);
  const own = t.vid;
  for (let at = INODE_DATA_VDI_ID; at < SD_INODE_SIZE; at += 4) {
    if (t.inode.readUInt32LE(at) !== own) t.inode.writeUInt32LE(remote.readUInt32LE(at), at);
  }
  return vid;
}
