// Zero-block runs of a buffer through @tsemu/host-io's native scanner (one
// call per buffer instead of a JS loop with a compare per block); callers
// keep a JS path for when the addon is not built.
import { hostIo } from '@tsemu/host-io';

/**
 * Cuts buf[0, length) into blocks ending on multiples of `align` counted from
 * `phase` bytes before buf's start and writes each maximal run of all-zero
 * blocks to `runs` as a start/end pair. The number of runs, or -1 when the
 * native scanner is missing or refused the arguments (`runs` too short: b
 * blocks have at most ceil(b/2) runs).
 */
export function findZeroRuns(buf: Uint8Array, length: number, phase: number, align: number, runs: Int32Array): number {
  if (!hostIo.zeroScan) return -1;
  const n = hostIo.zeroRuns(buf, length, phase, align, runs);
  return n < 0 ? -1 : n;
}
