// net's `onread` option (the kernel reads straight into a buffer we choose)
// exists only for sockets we create; an accepted socket comes from the
// server. Node keeps that option on three Socket symbols and a handle method
// (`useUserBuffer`), so we set them ourselves when they are all there (Node
// 20-24) and otherwise report false: the caller then reads with 'data'
// events, which is correct, only slower (each read allocates a chunk that is
// then copied; a 4 MiB payload took about 3x longer over loopback TCP).
import type { Socket } from 'node:net';

interface OnreadSlots {
  buffer: symbol;
  gen: symbol;
  callback: symbol;
}

function slotsOf(socket: Socket): OnreadSlots | null {
  let buffer: symbol | undefined;
  let gen: symbol | undefined;
  let callback: symbol | undefined;
  for (const s of Object.getOwnPropertySymbols(socket)) {
    if (s.description === 'kBuffer') buffer = s;
    else if (s.description === 'kBufferGen') gen = s;
    else if (s.description === 'kBufferCb') callback = s;
  }
  return buffer && gen && callback ? { buffer, gen, callback } : null;
}

/**
 * Makes `socket` (accepted with pauseOnConnect, not yet reading) read into
 * `buffer()`'s result and call `done(n)` after each read, as net.connect's
 * `onread: { buffer, callback }` does. False when this Node has no such slots.
 */
export function readInPlace(socket: Socket, buffer: () => Uint8Array, done: (n: number) => boolean): boolean {
  const slots = slotsOf(socket);
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (b: Uint8Array) => void } })._handle;
  if (!slots || typeof handle?.useUserBuffer !== 'function') return false;
  const first = buffer();
  const s = socket as unknown as Record<symbol, unknown>;
  s[slots.buffer] = first;
  s[slots.gen] = buffer;
  s[slots.callback] = done; // returning false stops reading, as with onread
  handle.useUserBuffer(first);
  return true;
}
