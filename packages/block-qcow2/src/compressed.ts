// Compressed clusters: descriptor decoding (qcow2.txt "Compressed Clusters
// Descriptor"), zlib (raw deflate; inflated by node:zlib, deflated by the
// host's libz where it loads, as qemu-img does) and zstd (compression_type=zstd,
// through the host's libzstd); the host libraries come through @tsemu/host-io.
import { createRequire } from 'node:module';
import type { ZlibOptions } from 'node:zlib';
import { BlockError } from '@tsemu/block-core';
import { hostIo, ZSTD_ENOSPC } from '@tsemu/host-io';

// node:zlib is loaded at the first compressed cluster, not at every tool's start-up.
let zlibModule: typeof import('node:zlib') | undefined;
const zlib = (): typeof import('node:zlib') => (zlibModule ??= createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib'));

export interface CompressedLocation {
  host: number;
  bytes: number;
}

/**
 * Host offset and length of a compressed cluster. Bits 0..x-1 are the offset
 * and bits x..61 the number of extra 512-byte sectors, x = 62 - (cluster_bits - 8).
 */
export function decodeCompressed(hi: number, lo: number, clusterBits: number, out: CompressedLocation): void {
  const x = 62 - (clusterBits - 8);
  // x >= 49 for cluster_bits <= 21, so the offset always spans the high half's low bits.
  const hiOffsetBits = x - 32;
  const host = (hi & (2 ** hiOffsetBits - 1)) * 4294967296 + (lo >>> 0);
  const sectors = Math.floor((hi & 0x3fffffff) / 2 ** hiOffsetBits) & (2 ** (clusterBits - 8) - 1);
  out.host = host;
  out.bytes = (sectors + 1) * 512 - (host % 512);
}

/** The L2 entry halves (without flags' COPIED) describing compressed data at host, `bytes` long. */
export function encodeCompressed(host: number, bytes: number, clusterBits: number): [number, number] {
  const x = 62 - (clusterBits - 8);
  const hiOffsetBits = x - 32;
  const sectors = Math.floor((host + bytes - 1) / 512) - Math.floor(host / 512);
  const hi = 0x40000000 | (sectors * 2 ** hiOffsetBits) | Math.floor(host / 4294967296);
  return [hi >>> 0, host >>> 0];
}

/** The header's compression_type values (qcow2.txt). */
export const COMPRESSION_ZLIB = 0;
export const COMPRESSION_ZSTD = 1;
/** QEMU compresses with zstd's default level. */
const ZSTD_LEVEL = 3;

function zstdUnsupported(): BlockError {
  return new BlockError('ENOTSUP', 'qcow2: zstd compression is not supported (libzstd.so.1 could not be loaded)');
}

/** Decompresses one cluster; anything but exactly `clusterSize` bytes of output is EIO (as in QEMU). */
export function inflateCluster(input: Uint8Array, clusterSize: number, compressionType: number): Uint8Array {
  if (compressionType === COMPRESSION_ZSTD) return zstdDecompressCluster(input, clusterSize);
  let out: Buffer;
  try {
    out = zlib().inflateRawSync(input, { maxOutputLength: clusterSize });
  } catch {
    throw new BlockError('EIO');
  }
  if (out.length !== clusterSize) throw new BlockError('EIO');
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/**
 * zstd frames (possibly several) until the cluster is full; the descriptor's
 * length ends on a sector boundary, so bytes after the last frame are ignored.
 */
function zstdDecompressCluster(input: Uint8Array, clusterSize: number): Uint8Array {
  if (!hostIo.zstdAvailable()) throw zstdUnsupported();
  const out = new Uint8Array(clusterSize);
  if (hostIo.zstdDecompress(input, out) !== clusterSize) throw new BlockError('EIO');
  return out;
}

/** A zstd frame of one cluster, or undefined when it does not shrink (written uncompressed then, as QEMU does). */
function zstdCompressCluster(data: Uint8Array): Uint8Array | undefined {
  if (!hostIo.zstdAvailable()) throw zstdUnsupported();
  // Room for zstd's worst case (its compressBound), then QEMU's test: the
  // frame must be smaller than a cluster. A buffer of exactly cluster - 1
  // bytes is not the same test: the one-shot compressor can refuse a buffer
  // below its worst case even where the frame it makes would fit (a 512-byte
  // cluster that compresses to 504 bytes, which qemu-img stores).
  const out = new Uint8Array(data.length + (data.length >> 7) + 128);
  const n = hostIo.zstdCompress(data, out, ZSTD_LEVEL);
  return n > 0 && n < data.length ? out.subarray(0, n) : undefined;
}

/** Fails now, before anything is written, when compressed writes of this type cannot work here. */
export function checkCompressionType(compressionType: number): void {
  if (compressionType === COMPRESSION_ZSTD && !hostIo.zstdAvailable()) throw zstdUnsupported();
}

/**
 * Compresses one cluster with the image's compression type: undefined when
 * it does not shrink. zlib runs on libuv's thread pool, so the clusters of
 * one request (and of concurrent requests) compress in parallel, as QEMU's
 * compression threads do; zstd (several times faster) on this thread.
 */
export function compressClusterAsync(data: Uint8Array, compressionType: number): Promise<Uint8Array | undefined> {
  if (compressionType === COMPRESSION_ZSTD) return Promise.resolve(zstdCompressCluster(data));
  return deflateClusterAsync(data);
}

/** QEMU's deflate parameters: Z_DEFAULT_COMPRESSION (6), a 4 KiB window (raw, -12), memLevel 9. */
const DEFLATE_OPTIONS = { level: 6, windowBits: 12, memLevel: 9 } as const satisfies ZlibOptions;

/**
 * Deflates one cluster on libuv's thread pool; undefined when it does not
 * shrink (QEMU then writes it uncompressed). With the host's libz (the
 * library qemu-img uses) the bytes are qemu-img's; without it, node:zlib's
 * (Chromium's zlib: valid, but not always the same bytes).
 */
export function deflateClusterAsync(data: Uint8Array): Promise<Uint8Array | undefined> {
  if (hostIo.zlibAvailable()) return deflateWithHostZlib(data);
  return new Promise((resolve, reject) => {
    zlib().deflateRaw(data, DEFLATE_OPTIONS, (err, out) => {
      if (err) reject(err);
      else resolve(out.length >= data.length ? undefined : new Uint8Array(out.buffer, out.byteOffset, out.length));
    });
  });
}

async function deflateWithHostZlib(data: Uint8Array): Promise<Uint8Array | undefined> {
  // At most one byte less than the cluster, as QEMU asks: anything longer is stored plainly.
  const out = new Uint8Array(data.length - 1);
  const n = await hostIo.deflateRawAsync(data, out, DEFLATE_OPTIONS.level, DEFLATE_OPTIONS.windowBits, DEFLATE_OPTIONS.memLevel);
  if (n === ZSTD_ENOSPC) return undefined;
  if (n < 0) throw new BlockError('EIO');
  return out.subarray(0, n);
}
