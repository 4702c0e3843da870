// Persistent dirty bitmaps as the tools see them: the driver state of a
// format that holds them (qcow2's Qcow2DriverState.bitmaps) exposes this
// shape; qemu-img does not depend on the format packages, so it asks by name.
import type { BlockBackend } from '@tsemu/block-core';

export interface PersistentBitmap {
  name: string;
  granularityBits: number;
  auto: boolean;
  inconsistent: boolean;
}

export interface PersistentBitmaps {
  readonly list: PersistentBitmap[];
  /** The image can store persistent bitmaps (qcow2 v3). */
  readonly storable: boolean;
  usable(name: string): PersistentBitmap;
  bitsOf(bm: PersistentBitmap): Promise<Uint8Array>;
  add(name: string, granularity: number, disabled: boolean): void;
  remove(name: string): Promise<void> | void;
  clear(name: string): void;
  enable(name: string): void;
  disable(name: string): void;
  merge(target: string, source: Uint8Array, sourceBits: number): void;
  storedSize(clusterSize?: number): number;
}

/** The image's persistent bitmaps, or undefined when its format has none. */
export function bitmapsOf(blk: BlockBackend): PersistentBitmaps | undefined {
  if (!blk.root.driver.supports?.bitmaps) return undefined;
  return (blk.root.state as { bitmaps?: PersistentBitmaps }).bitmaps;
}
