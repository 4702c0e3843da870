// Writing a whole buffer at an offset of a file descriptor. Small writes stay
// synchronous (a thread-pool hop costs more than the copy) and return
// undefined, so the request path stays free of promises; big payloads go to
// the thread pool, so the kernel's copy of megabytes runs beside the event
// loop instead of stalling it (and on a busy machine the peer does not do
// all its copying on one thread's share of the CPU).
import { write, writeSync } from 'node:fs';

/** From this size on, writes go through the thread pool. */
export const BIG_WRITE = 256 * 1024;

/** A value, or a promise of it when the work went to the thread pool. */
export type Maybe<T> = T | Promise<T>;

function writeAsync(fd: number, data: Uint8Array, at: number, offset: number): Promise<number> {
  return new Promise((resolve, reject) => write(fd, data, at, data.length - at, offset, (err, n) => (err ? reject(err) : resolve(n))));
}

async function pwriteBig(fd: number, data: Uint8Array, offset: number): Promise<void> {
  let done = 0;
  while (done < data.length) done += await writeAsync(fd, data, done, offset + done);
}

/** Synchronous (undefined) below BIG_WRITE, else a promise. */
export function pwriteAll(fd: number, data: Uint8Array, offset: number): Promise<void> | undefined {
  if (data.length >= BIG_WRITE) return pwriteBig(fd, data, offset);
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, offset + done);
  return undefined;
}
