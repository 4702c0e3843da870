// VDI-level requests, each on its own short-lived socket (QEMU 1.4's split).
import {
  SD_HEADER_SIZE, SD_PROTO_VER, SD_OP_LOCK_VDI, SD_OP_GET_VDI_INFO, SD_OP_NEW_VDI, SD_OP_RELEASE_VDI,
  SD_OP_READ_VDIS, SD_OP_DEL_VDI, SD_OP_READ_OBJ, SD_OP_WRITE_OBJ, SD_FLAG_CMD_WRITE, SD_RES_SUCCESS,
  SD_RES_VDI_NOT_LOCKED, SD_VDI_BITMAP_SIZE,
} from '../wire/constants.js';
import { encodeObjRequest, encodeVdiRequest } from '../wire/header.js';
import { encodeVdiNamePayload } from '../wire/inode.js';
import { shortRequest } from './short-request.js';
import { sdResultError } from './errors.js';
import type { SheepdogAddress } from './location.js';

/**
 * LOCK_VDI (at open) or GET_VDI_INFO (snapshot goto / lookups) by name and
 * snapshot id or tag. Returns the vid. NO_VDI -> ENOENT, others EIO.
 */
export async function findVdi(
  address: SheepdogAddress, name: string, snapId: number, tag: string, lock: boolean,
): Promise<number> {
  const header = Buffer.alloc(SD_HEADER_SIZE);
  const payload = encodeVdiNamePayload(name, tag);
  encodeVdiRequest(header, SD_PROTO_VER, lock ? SD_OP_LOCK_VDI : SD_OP_GET_VDI_INFO, SD_FLAG_CMD_WRITE, 0, payload.length, 0, 0, 0, snapId);
  const r = await shortRequest(address, header, payload, null);
  if (r.result !== SD_RES_SUCCESS) throw sdResultError(r.result, (t) => `cannot get vdi info, ${t}, ${name} ${snapId} ${tag}`);
  return r.vdiId;
}

/** NEW_VDI: create an image (base 0), a clone of `baseVid`, or with `snapshot` a new version of base. */
export async function newVdi(
  address: SheepdogAddress, name: string, size: number, baseVid: number, snapshot: boolean,
): Promise<number> {
  const header = Buffer.alloc(SD_HEADER_SIZE);
  const payload = encodeVdiNamePayload(name);
  encodeVdiRequest(header, 0, SD_OP_NEW_VDI, SD_FLAG_CMD_WRITE, 0, payload.length, size, baseVid, 0, snapshot ? 1 : 0);
  const r = await shortRequest(address, header, payload, null);
  if (r.result !== SD_RES_SUCCESS) throw sdResultError(r.result, (t) => `${t}, ${name}`);
  return r.vdiId;
}

/** RELEASE_VDI at close; "not locked" is fine (0.5.6 never locked). */
export async function releaseVdi(address: SheepdogAddress, name: string, vid: number): Promise<void> {
  const header = Buffer.alloc(SD_HEADER_SIZE);
  const payload = Buffer.from(`${name}\0`, 'utf8');
  encodeVdiRequest(header, 0, SD_OP_RELEASE_VDI, SD_FLAG_CMD_WRITE, 0, payload.length, 0, vid, 0, 0);
  const r = await shortRequest(address, header, payload, null);
  if (r.result !== SD_RES_SUCCESS && r.result !== SD_RES_VDI_NOT_LOCKED) {
    throw sdResultError(r.result, (t) => `failed to release a VDI, ${t}, ${name}`);
  }
}

/** READ_VDIS: the 2 MiB in-use bitmap (bit vid set = in use). */
export async function readVdiBitmap(address: SheepdogAddress): Promise<Buffer> {
  const header = Buffer.alloc(SD_HEADER_SIZE);
  const bitmap = Buffer.alloc(SD_VDI_BITMAP_SIZE);
  encodeVdiRequest(header, 0, SD_OP_READ_VDIS, 0, 0, bitmap.length, 0, 0, 0, 0);
  const r = await shortRequest(address, header, null, bitmap);
  if (r.result !== SD_RES_SUCCESS) throw sdResultError(r.result, (t) => `unable to read the VDI list, ${t}`);
  return bitmap;
}

/** DEL_VDI (public from sheep ~0.7; 0.5.6 answers INVALID_PARMS). Returns the raw result. */
export async function deleteVdi(address: SheepdogAddress, name: string, snapId: number, tag: string): Promise<number> {
  const header = Buffer.alloc(SD_HEADER_SIZE);
  const payload = encodeVdiNamePayload(name, tag);
  encodeVdiRequest(header, 0, SD_OP_DEL_VDI, SD_FLAG_CMD_WRITE, 0, payload.length, 0, 0, 0, snapId);
  return (await shortRequest(address, header, payload, null)).result;
}

/** READ_OBJ on a short-lived socket (inode reads). Fills `into` from `offset`. */
export async function readObject(
  address: SheepdogAddress, oidHi: number, oidLo: number, copies: number, offset: number, into: Uint8Array, cacheFlags: number,
): Promise<void> {
  const header = Buffer.alloc(SD_HEADER_SIZE);
  encodeObjRequest(header, SD_OP_READ_OBJ, cacheFlags, 0, into.length, oidHi, oidLo, 0, 0, copies, offset);
  const r = await shortRequest(address, header, null, into);
  if (r.result !== SD_RES_SUCCESS) throw sdResultError(r.result, (t) => `failed to read an object, ${t}`);
  if (r.received < into.length) into.fill(0, r.received);
}

/** WRITE_OBJ on a short-lived socket (inode header writes: resize, snapshot). */
export async function writeObject(
  address: SheepdogAddress, oidHi: number, oidLo: number, copies: number, offset: number, data: Uint8Array, cacheFlags: number,
): Promise<void> {
  const header = Buffer.alloc(SD_HEADER_SIZE);
  encodeObjRequest(header, SD_OP_WRITE_OBJ, SD_FLAG_CMD_WRITE | cacheFlags, 0, data.length, oidHi, oidLo, 0, 0, copies, offset);
  const r = await shortRequest(address, header, data, null);
  if (r.result !== SD_RES_SUCCESS) throw sdResultError(r.result, (t) => `failed to write an object, ${t}`);
}
