import { open } from 'node:fs/promises';

export type ChunkKind = 'data' | 'zero' | 'hole';

export interface TestFileSpec {
  /** Total size in bytes; the file is truncated to it, so trailing holes stay sparse. */
  readonly size: number;
  /** Chunk size in bytes (default 1 MiB). */
  readonly chunk?: number;
  /** What chunk `index` holds: pseudo-random data, written zeros (allocated), or a hole. */
  readonly layout: (index: number) => ChunkKind;
  /** Fill 'data' chunks with this byte (for `read -P` checks) instead of pseudo-random bytes. */
  readonly pattern?: number;
}

const MiB = 1024 * 1024;

/** Writes a test image (raw) chunk by chunk; random data chunks differ from each other so nothing dedups. */
export async function makeTestFile(path: string, spec: TestFileSpec): Promise<void> {
  const chunk = spec.chunk ?? MiB;
  const data = new Uint8Array(chunk);
  if (spec.pattern !== undefined) data.fill(spec.pattern);
  const zeros = new Uint8Array(chunk);
  const rng = xorshift32(0x7e5e);
  const fh = await open(path, 'w');
  try {
    await fh.truncate(spec.size);
    for (let i = 0, off = 0; off < spec.size; i++, off += chunk) {
      const kind = spec.layout(i);
      if (kind === 'hole') continue;
      const len = Math.min(chunk, spec.size - off);
      if (kind === 'data' && spec.pattern === undefined) fillRandom(data, rng);
      await fh.write(kind === 'data' ? data : zeros, 0, len, off);
    }
  } finally {
    await fh.close();
  }
}

/** `count` offsets, multiples of `align`, below `size`, the same for every run with the same seed. */
export function seededOffsets(count: number, size: number, align: number, seed = 1): number[] {
  const rng = xorshift32(seed);
  const slots = Math.floor(size / align);
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = (rng() % slots) * align;
  return out;
}

function fillRandom(buf: Uint8Array, rng: () => number): void {
  const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >>> 2);
  for (let i = 0; i < words.length; i++) words[i] = rng();
}

/** Small deterministic PRNG (Marsaglia xorshift32): unsigned 32-bit values. */
function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
}
