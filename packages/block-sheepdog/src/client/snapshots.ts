// Internal snapshots as QEMU 1.4 did them (spec section 6), for tools to
// call through SheepdogImage's snapshot* methods:
//  create: tag + vm state into the inode header, WRITE_OBJ the header,
//          NEW_VDI(name, base = current, snapid 1), adopt the new header;
//          data_vdi_id stays, so later writes become COW;
//  list:   READ_VDIS, walk vids from hash(name) while their bit is set;
//  goto:   GET_VDI_INFO by id or tag, ENOENT without vm state (1.4's rule);
//  delete: DEL_VDI where the daemon has it (1.4 itself did nothing).
import { BlockError } from '@tsemu/block-core';
import { SD_NR_VDIS, SD_MAX_VDI_TAG_LEN, SD_RES_SUCCESS, SD_RES_INVALID_PARMS } from '../wire/constants.js';
import { inodeOidHi, vdiNameHash } from '../wire/oid.js';
import {
  SD_INODE_HEADER_SIZE, SD_INODE_SIZE, INODE_TAG, INODE_VM_STATE_SIZE, INODE_VM_CLOCK_NSEC,
  writeCString, writeU64, decodeInodeHeader,
} from '../wire/inode.js';
import { findVdi, newVdi, readObject, writeObject, readVdiBitmap, deleteVdi } from './vdi-ops.js';
import { sdResultError } from './errors.js';
import type { SheepdogLocation } from './location.js';

export interface SheepdogSnapshotInfo {
  /** snap_id, as text (QEMU's id_str). */
  id: string;
  /** The tag. */
  name: string;
  vmStateSize: number;
  /** snap_ctime split as QEMU shows it. */
  dateSec: number;
  dateNsec: number;
  vmClockNsec: number;
}

/** What the snapshot code needs of an open image. */
export interface SnapshotHost {
  location: SheepdogLocation;
  inode: Buffer;
  vid: number;
  isSnapshot: boolean;
  cacheFlags: number;
  readonly copies: number;
}

export async function createSnapshot(img: SnapshotHost, tag: string, vmStateSize = 0, vmClockNsec = 0): Promise<void> {
  if (img.isSnapshot) throw new BlockError('EINVAL', "You can't create a snapshot of a snapshot VDI");
  if (Buffer.byteLength(tag) > SD_MAX_VDI_TAG_LEN) throw new BlockError('EINVAL', `Snapshot tag too long: ${tag}`);
  const addr = img.location.address;
  const saved = Buffer.from(img.inode.subarray(0, SD_INODE_HEADER_SIZE));
  writeCString(img.inode, INODE_TAG, SD_MAX_VDI_TAG_LEN, tag);
  writeU64(img.inode, INODE_VM_STATE_SIZE, vmStateSize);
  writeU64(img.inode, INODE_VM_CLOCK_NSEC, vmClockNsec);
  try {
    await writeObject(addr, inodeOidHi(img.vid), 0, img.copies, 0, img.inode.subarray(0, SD_INODE_HEADER_SIZE), img.cacheFlags);
    const newVid = await newVdi(addr, img.location.vdi, decodeInodeHeader(img.inode).vdiSize, img.vid, true);
    const head = Buffer.alloc(SD_INODE_HEADER_SIZE);
    await readObject(addr, inodeOidHi(newVid), 0, img.copies, 0, head, img.cacheFlags);
    head.copy(img.inode, 0);
    img.vid = newVid;
  } catch (err) {
    saved.copy(img.inode, 0);
    throw err;
  }
}

export async function listSnapshots(img: SnapshotHost): Promise<SheepdogSnapshotInfo[]> {
  const addr = img.location.address;
  const bitmap = await readVdiBitmap(addr);
  const out: SheepdogSnapshotInfo[] = [];
  const head = Buffer.alloc(SD_INODE_HEADER_SIZE);
  // The name's versions sit in consecutive vids from its hash; a clear bit ends the run.
  for (let vid = vdiNameHash(img.location.vdi), n = 0; n < SD_NR_VDIS; vid = (vid + 1) % SD_NR_VDIS, n++) {
    if ((bitmap[vid >>> 3]! & (1 << (vid & 7))) === 0) break;
    await readObject(addr, inodeOidHi(vid), 0, 0, 0, head, img.cacheFlags);
    const h = decodeInodeHeader(head);
    if (h.name !== img.location.vdi || h.snapCtime === 0) continue;
    out.push({
      id: String(h.snapId), name: h.tag, vmStateSize: h.vmStateSize,
      dateSec: Math.floor(h.snapCtime / 0x100000000), dateNsec: h.snapCtime % 0x100000000, vmClockNsec: h.vmClockNsec,
    });
  }
  return out;
}

/** Switches the open image to a snapshot (by numeric id, else by tag); writes will branch. */
export async function gotoSnapshot(img: SnapshotHost, idOrTag: string): Promise<void> {
  const snapId = /^\d+$/.test(idOrTag) ? Number(idOrTag) : 0;
  const tag = snapId ? '' : idOrTag;
  const addr = img.location.address;
  const vid = await findVdi(addr, img.location.vdi, snapId, tag, false);
  const inode = Buffer.alloc(SD_INODE_SIZE);
  await readObject(addr, inodeOidHi(vid), 0, img.copies, 0, inode, img.cacheFlags);
  if (decodeInodeHeader(inode).vmStateSize === 0) throw new BlockError('ENOENT', 'Invalid snapshot');
  inode.copy(img.inode);
  img.vid = vid;
  img.isSnapshot = true;
  img.location = { ...img.location, snapId, tag };
}

export async function deleteSnapshot(img: SnapshotHost, idOrTag: string): Promise<void> {
  const snapId = /^\d+$/.test(idOrTag) ? Number(idOrTag) : 0;
  const r = await deleteVdi(img.location.address, img.location.vdi, snapId, snapId ? '' : idOrTag);
  if (r === SD_RES_SUCCESS) return;
  if (r === SD_RES_INVALID_PARMS) throw new BlockError('ENOTSUP', 'sheepdog: this daemon cannot delete snapshots (no DEL_VDI)');
  throw sdResultError(r, (t) => `failed to delete snapshot '${idOrTag}': ${t}`);
}
