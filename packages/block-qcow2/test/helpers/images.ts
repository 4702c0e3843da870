// Helpers that go through block-core's public API (openImage / createImage).
import { readFileSync, writeFileSync } from 'node:fs';
import { openImage, type BlockBackend } from '@tsemu/block-core';
import '@tsemu/block-qcow2';
import { qemuImg } from './tools.js';

/** Reads the whole guest-visible image through tsemu. */
export async function readAllTsemu(file: string, format = 'qcow2'): Promise<Uint8Array> {
  const blk = await openImage({ filename: file, format, readOnly: true });
  try {
    return await readAll(blk);
  } finally {
    await blk.close();
  }
}

export async function readAll(blk: BlockBackend): Promise<Uint8Array> {
  const size = await blk.getLength();
  const out = new Uint8Array(size);
  // Odd chunk size so requests straddle clusters.
  const chunk = 300 * 1024 + 512;
  for (let off = 0; off < size; off += chunk) await blk.read(off, out.subarray(off, Math.min(size, off + chunk)));
  return out;
}

/** What qemu-img says the guest sees (convert to raw). */
export function readAllQemu(file: string, rawPath: string): Uint8Array {
  qemuImg('convert', '-O', 'raw', file, rawPath);
  return new Uint8Array(readFileSync(rawPath));
}

export function writeRaw(path: string, data: Uint8Array): void {
  writeFileSync(path, data);
}

/** First differing offset, or -1. */
export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}
