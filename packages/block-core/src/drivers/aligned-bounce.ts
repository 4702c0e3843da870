// O_DIRECT needs buffer *addresses* aligned to the logical block size, which
// Node never promises. We allocate one arena (page-aligned when
// allocAlignedBuffer can, so sub-offset 0 is tried first), confirm by probing
// the kernel with O_DIRECT reads which sub-offset is aligned, and carve a
// small pool of aligned bounce buffers from it once. ArrayBuffer backing
// stores never move, so the alignment found at open stays valid.
import { closeSync, fdatasyncSync, openSync, readSync, unlinkSync, writeSync, constants } from 'node:fs';
import { hostIo } from '@tsemu/host-io';
import { allocAlignedBuffer } from '../util/aligned.js';

export const BOUNCE_CHUNK = 1 << 20;
const BOUNCE_COUNT = 4;
const PAGE = 4096;

export interface DirectIoGeometry {
  /** Logical block size the device accepts for offsets/lengths (512 or 4096). */
  blockSize: number;
  /** Sub-offset into the arena at which addresses are blockSize-aligned. */
  arenaOffset: number;
  arena: ArrayBuffer;
}

function tryRead(fd: number, arena: ArrayBuffer, at: number, len: number, filePos: number): boolean {
  try {
    readSync(fd, new Uint8Array(arena, at, len), 0, len, filePos);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'EINVAL') return false;
    throw err;
  }
}

/** Candidate sub-offsets, most likely first: 0 (allocAlignedBuffer), then past glibc's 16-byte malloc header. */
function* candidates(step: number): Generator<number> {
  const likely = PAGE - 16 - ((PAGE - 16) % step);
  yield 0;
  yield likely;
  for (let k = step; k < PAGE; k += step) if (k !== likely) yield k;
}

/**
 * Probes with an O_DIRECT fd at `filePos`, which must hold 4 KiB of real data:
 * the kernel skips the alignment check when a direct read lands in a hole, so
 * a probe there would accept any buffer.
 * Returns undefined when no combination works (caller falls back to O_DSYNC).
 */
export function probeDirectGeometry(fd: number, filePos = 0): DirectIoGeometry | undefined {
  const arena = allocAlignedBuffer(BOUNCE_CHUNK * BOUNCE_COUNT + PAGE).buffer;
  for (const blockSize of [512, PAGE]) {
    for (const at of candidates(blockSize === 512 ? 16 : 512)) {
      if (tryRead(fd, arena, at, blockSize, filePos)) return { blockSize, arenaOffset: at, arena };
    }
  }
  return undefined;
}

/** A page-aligned offset of `fd` holding a whole page of data (SEEK_DATA), or -1. */
function findDataPage(fd: number, size: number): number {
  if (!hostIo.available) return -1;
  try {
    const data = hostIo.seekData(fd, 0);
    if (data < 0) return -1;
    const page = data + ((PAGE - (data % PAGE)) % PAGE);
    const hole = hostIo.seekHole(fd, page);
    return page + PAGE <= size && hole >= page + PAGE ? page : -1;
  } catch {
    return -1;
  }
}

/**
 * Probes on the file's own data where SEEK_DATA finds a page of it, else on a
 * scratch file next to it (same filesystem, same rules) holding a synced page
 * of data, removed afterwards.
 */
export function probeDirectGeometryFor(path: string, fd: number, size: number): DirectIoGeometry | undefined {
  const dataPage = findDataPage(fd, size);
  if (dataPage >= 0) return probeDirectGeometry(fd, dataPage);
  const scratch = `${path}.tsemu-dio-probe-${process.pid}`;
  let sfd = -1;
  try {
    const w = openSync(scratch, 'w');
    try {
      writeSync(w, new Uint8Array(PAGE).fill(1));
      fdatasyncSync(w);
    } finally {
      closeSync(w);
    }
    sfd = openSync(scratch, constants.O_RDONLY | constants.O_DIRECT);
    return probeDirectGeometry(sfd);
  } catch {
    return undefined;
  } finally {
    if (sfd >= 0) closeSync(sfd);
    try { unlinkSync(scratch); } catch { /* already gone */ }
  }
}

/** A fixed pool of aligned BOUNCE_CHUNK buffers; callers wait when all are busy. */
export class AlignedBouncePool {
  private readonly free: Uint8Array[] = [];
  private readonly waiters: ((buf: Uint8Array) => void)[] = [];

  constructor(geometry: DirectIoGeometry) {
    for (let i = 0; i < BOUNCE_COUNT; i++) {
      this.free.push(new Uint8Array(geometry.arena, geometry.arenaOffset + i * BOUNCE_CHUNK, BOUNCE_CHUNK));
    }
  }

  acquire(): Uint8Array | Promise<Uint8Array> {
    const buf = this.free.pop();
    if (buf) return buf;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(buf: Uint8Array): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(buf);
    else this.free.push(buf);
  }
}
