// The driver table. Built-in drivers are registered by index.ts; format and
// network packages (qcow2, nbd, sheepdog) call registerDriver on import.
import type { BlockDriver } from './driver.js';

const drivers = new Map<string, BlockDriver>();

export function registerDriver(driver: BlockDriver): void {
  drivers.set(driver.name, driver);
}

export function findDriver(name: string): BlockDriver | undefined {
  return drivers.get(name);
}

export function listDrivers(): BlockDriver[] {
  return [...drivers.values()];
}

/** The protocol driver for a filename prefix ("nbd" of "nbd://h/x", "null-co" of "null-co://"). */
export function findProtocolDriver(filename: string): BlockDriver | undefined {
  const m = /^([a-zA-Z0-9+.-]+):/.exec(filename);
  if (!m) return undefined;
  for (const d of drivers.values()) if (d.kind !== 'format' && d.protocols?.includes(m[1])) return d;
  return undefined;
}

/**
 * Best-scoring format driver for an image header (QEMU's bdrv_probe_all).
 * Raw answers 1 for anything, so it wins only when nothing else claims the image.
 */
export function probeFormat(header: Uint8Array, filename: string, exclude?: string): { driver: BlockDriver; score: number } | undefined {
  let best: { driver: BlockDriver; score: number } | undefined;
  for (const d of drivers.values()) {
    if (d.kind !== 'format' || !d.probe || d.name === exclude) continue;
    const score = d.probe(header, filename);
    if (score > 0 && (!best || score > best.score)) best = { driver: d, score };
  }
  return best;
}
