// Writing a whole buffer at an offset of a file descriptor. Small writes stay
// synchronous (a thread-pool hop costs more than the copy); big payloads go
// to the thread pool, so the kernel's copy of megabytes runs beside the
// event loop instead of stalling it (and on a busy machine the peer does not
// do all its copying on one thread's share of the CPU).
import { write, writeSync } from 'node:fs';

/** From this size on, writes go through the thread pool. */
export const BIG_WRITE = 256 * 1024;

function writeAsync(fd: number, data: Uint8Array, at: number, offset: number): Promise<number> {
  return new Promise((resolve, reject) => write(fd, data, at, data.length - at, offset, (err, n) => (err ? reject(err) : resolve(n))));
}

export async function pwriteAll(fd: number, data: Uint8Array, offset: number): Promise<void> {
  let done = 0;
  if (data.length < BIG_WRITE) {
    while (done < data.length) done += writeSync(fd, data, done, data.length - done, offset + done);
    return;
  }
  while (done < data.length) done += await writeAsync(fd, data, done, offset + done);
}
