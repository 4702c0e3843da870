// The "backend": one file per object under <dir>/obj, named by the oid in
// hex as sheep does. Files are created at full object size and left sparse.
// What is here survives a lost object cache and a peer restart.
import { mkdir, open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { oidToHex } from '@tsemu/block-sheepdog';

export class ObjectStore {
  readonly objDir: string;

  constructor(dir: string) {
    this.objDir = join(dir, 'obj');
  }

  async init(): Promise<void> {
    await mkdir(this.objDir, { recursive: true });
  }

  private path(hi: number, lo: number): string {
    return join(this.objDir, oidToHex(hi, lo));
  }

  async exists(hi: number, lo: number): Promise<boolean> {
    try {
      const fh = await open(this.path(hi, lo), 'r');
      await fh.close();
      return true;
    } catch {
      return false;
    }
  }

  /** Creates (or replaces) the object with `size` bytes of `data` (zeros past it). */
  async put(hi: number, lo: number, size: number, data: Buffer): Promise<void> {
    const fh = await open(this.path(hi, lo), 'w');
    try {
      await fh.truncate(size);
      if (data.length > 0) await fh.write(data, 0, Math.min(data.length, size), 0);
    } finally {
      await fh.close();
    }
  }

  /** Reads up to `length` bytes at `offset`; null when the object does not exist. */
  async read(hi: number, lo: number, offset: number, length: number): Promise<Buffer | null> {
    let fh;
    try {
      fh = await open(this.path(hi, lo), 'r');
    } catch {
      return null;
    }
    try {
      const buf = Buffer.alloc(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) break; // past the end reads as zeros
        done += bytesRead;
      }
      return buf;
    } finally {
      await fh.close();
    }
  }

  /** Writes into an existing object; false when it does not exist. */
  async write(hi: number, lo: number, offset: number, data: Uint8Array): Promise<boolean> {
    let fh;
    try {
      fh = await open(this.path(hi, lo), 'r+');
    } catch {
      return false;
    }
    try {
      await fh.write(data, 0, data.length, offset);
      return true;
    } finally {
      await fh.close();
    }
  }

  async remove(hi: number, lo: number): Promise<void> {
    await rm(this.path(hi, lo), { force: true });
  }

  /** Every stored oid as [hi, lo]. */
  async list(): Promise<Array<[number, number]>> {
    const names = await readdir(this.objDir);
    const out: Array<[number, number]> = [];
    for (const n of names) {
      if (!/^[0-9a-f]{16}$/.test(n)) continue;
      out.push([parseInt(n.slice(0, 8), 16), parseInt(n.slice(8), 16)]);
    }
    return out;
  }
}
