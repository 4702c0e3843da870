// Whole-object request payloads (4 MiB) are recycled once the object cache
// has written them to their file. A fresh 4 MiB buffer costs the kernel 1024
// page faults and 4 MiB of zeroing when the socket read first touches it;
// a recycled one is already mapped (peer main-thread CPU per 64 MiB of
// sequential writes 40 -> 31 ms, minor faults 4500 -> 1400). Only the
// cache's write-behind gives buffers back: nothing else holds a payload
// after it landed in its file. (Cutting small payloads from shared slabs
// was tried too and measured no better: dropped.)
import { SD_DATA_OBJ_SIZE } from '@tsemu/block-sheepdog';

/** Buffers kept for reuse: the write-behinds in flight (4) plus the one arriving, and some slack. */
const POOL_MAX = 8;
const pool: Buffer[] = [];

/** A buffer of `length` bytes for a request payload (contents undefined: the frame reader fills it). */
export function takePayload(length: number): Buffer {
  if (length === SD_DATA_OBJ_SIZE && pool.length > 0) return pool.pop()!;
  return Buffer.allocUnsafe(length);
}

/** Hands a payload back once nothing refers to it any more. */
export function givePayload(data: Uint8Array): void {
  if (data.length === SD_DATA_OBJ_SIZE && data.byteOffset === 0 && data.buffer.byteLength === SD_DATA_OBJ_SIZE && pool.length < POOL_MAX) {
    pool.push(data as Buffer);
  }
}
