// Qcow2HostFile: the image's `file` child as the qcow2 code sees it. Keeps the
// file length so reads past the end (QEMU's L1 table often ends mid-cluster at
// EOF) come back as zeroes without a stat per request.
import { BlockError } from '@tsemu/block-core';

/** What qcow2 needs of a node below it; BlockNode satisfies this structurally. */
export interface Qcow2FileNode {
  getLength(): Promise<number>;
  read(offset: number, buf: Uint8Array): Promise<void>;
  write(offset: number, buf: Uint8Array): Promise<void>;
  /** Vectored forms (BlockNode has them): one request for a multi-piece guest iov. */
  readv?(offset: number, iov: Uint8Array[]): Promise<void>;
  writev?(offset: number, iov: Uint8Array[]): Promise<void>;
  flush(): Promise<void>;
  discard?(offset: number, length: number): Promise<void>;
  truncate?(size: number, exact?: boolean): Promise<void>;
  writeZeroes?(offset: number, length: number, flags?: { noFallback?: boolean }): Promise<void>;
}

export class Qcow2HostFile {
  private length = 0;

  private constructor(readonly node: Qcow2FileNode) {}

  static async open(node: Qcow2FileNode): Promise<Qcow2HostFile> {
    const f = new Qcow2HostFile(node);
    f.length = await node.getLength();
    return f;
  }

  /** Current end of file as far as this driver knows (it is the only writer). */
  get size(): number {
    return this.length;
  }

  /** Reads `buf.length` bytes at `offset`; bytes past EOF read as zeroes. */
  async read(offset: number, buf: Uint8Array): Promise<void> {
    const inFile = Math.min(buf.length, Math.max(0, this.length - offset));
    if (inFile > 0) await this.node.read(offset, inFile === buf.length ? buf : buf.subarray(0, inFile));
    if (inFile < buf.length) buf.fill(0, inFile);
  }

  /** `length` bytes at `offset` into the pieces of `iov` (which add up to `length`), in one request when the node can. */
  async readv(offset: number, iov: Uint8Array[], length: number): Promise<void> {
    const node = this.node;
    if (node.readv === undefined || offset + length > this.length) {
      for (const piece of iov) {
        await this.read(offset, piece);
        offset += piece.byteLength;
      }
      return;
    }
    await node.readv(offset, iov);
  }

  async writev(offset: number, iov: Uint8Array[], length: number): Promise<void> {
    if (offset + length > 2 ** 56) throw new BlockError('EFBIG');
    const node = this.node;
    if (node.writev === undefined) {
      for (const piece of iov) {
        await this.write(offset, piece);
        offset += piece.byteLength;
      }
      return;
    }
    await node.writev(offset, iov);
    if (offset + length > this.length) this.length = offset + length;
  }

  async write(offset: number, buf: Uint8Array): Promise<void> {
    if (offset + buf.length > 2 ** 56) throw new BlockError('EFBIG');
    await this.node.write(offset, buf);
    if (offset + buf.length > this.length) this.length = offset + buf.length;
  }

  flush(): Promise<void> {
    return this.node.flush();
  }

  /**
   * Zeroes [offset, offset + length) where the file can do it without writing
   * (fallocate); false when it cannot, and then nothing changed.
   */
  async zeroWithoutWriting(offset: number, length: number): Promise<boolean> {
    if (!this.node.writeZeroes) return false;
    try {
      await this.node.writeZeroes(offset, length, { noFallback: true });
    } catch (err) {
      if (err instanceof BlockError && err.code === 'ENOTSUP') return false;
      throw err;
    }
    if (offset + length > this.length) this.length = offset + length;
    return true;
  }

  /** Best effort: a file that cannot punch holes keeps the bytes, which is harmless. */
  async discard(offset: number, length: number): Promise<void> {
    if (!this.node.discard || offset >= this.length) return;
    try {
      await this.node.discard(offset, Math.min(length, this.length - offset));
    } catch (err) {
      if (!(err instanceof BlockError && (err.code === 'ENOTSUP' || err.code === 'EPERM'))) throw err;
    }
  }

  async truncate(size: number): Promise<void> {
    if (!this.node.truncate) throw new BlockError('ENOTSUP', 'Protocol driver does not support resize');
    await this.node.truncate(size, false);
    this.length = size;
  }
}
