// Qcow2CompressedWriter: `write -c` / `convert -c`. Whole clusters only, and
// only into clusters that hold no data yet (as QEMU). Compressed clusters are
// packed back to back into host clusters (QEMU's qcow2_alloc_bytes): every
// host cluster a compressed cluster touches gets one more reference.
import { BlockError } from '@tsemu/block-core';
import { ClusterType, Qcow2Extent } from './cluster-map.js';
import { checkCompressionType, compressClusterAsync, encodeCompressed } from './compressed.js';
import type { Qcow2Image } from './image.js';
import { copyFromIovRange } from './iov-util.js';
import type { Qcow2Writer } from './write-path.js';

export class Qcow2CompressedWriter {
  /** Next free byte in the host cluster being packed (0 = none). Session-local, like QEMU's. */
  private freeByteOffset = 0;
  /** Refcount of that cluster after our last placement: any other change means it is no longer ours to fill. */
  private packRefcount = 0;

  constructor(private readonly img: Qcow2Image, private readonly writer: Qcow2Writer) {
    // A packing cluster that gets freed may come back as a data cluster: stop filling it.
    img.refcounts.onClusterFreed = (c) => {
      if (this.freeByteOffset !== 0 && Math.floor(this.freeByteOffset / img.clusterSize) === c) this.freeByteOffset = 0;
    };
  }

  async write(offset: number, length: number, iov: readonly Uint8Array[]): Promise<void> {
    const img = this.img;
    if (length === 0) return this.alignEndOfFile();
    const cs = img.clusterSize;
    const size = img.header.size;
    for (let pos = 0; pos < length; pos += cs) {
      const n = Math.min(cs, length - pos);
      if ((offset + pos) % cs !== 0 || (n !== cs && offset + pos + n !== size)) throw new BlockError('EINVAL');
    }
    const type = img.header.compressionType;
    checkCompressionType(type);
    // Every cluster of the request compresses at once (zlib: on the thread pool).
    const clusters: Uint8Array[] = [];
    for (let pos = 0; pos < length; pos += cs) {
      const n = Math.min(cs, length - pos);
      if (iov.length === 1 && n === cs) {
        clusters.push(iov[0]!.subarray(pos, pos + cs));
      } else {
        const cluster = new Uint8Array(cs); // a short last cluster is padded with zeroes
        copyFromIovRange(iov, pos, n, cluster, 0);
        clusters.push(cluster);
      }
    }
    const packed = await Promise.all(clusters.map((c) => compressClusterAsync(c, type)));
    for (let k = 0; k < clusters.length; k++) {
      const pos = k * cs;
      if (packed[k] !== undefined) {
        await this.writeCompressedCluster(offset + pos, packed[k]!);
        continue;
      }
      // Incompressible data is stored plainly, cluster by cluster as QEMU
      // does (each cluster is its own allocation, so refcount blocks and
      // tables land where qemu-img puts them).
      const n = Math.min(cs, length - pos);
      await this.writer.write(offset + pos, n, [clusters[k]!.subarray(0, n)]); // the cluster's bytes (a short last one without its padding)
    }
  }

  /**
   * A compressed write of no bytes (qemu-img convert -c sends one at the end):
   * the file grows to a whole number of 512-byte sectors, as QEMU pads it,
   * so sector-based readers see the last compressed cluster whole.
   */
  private async alignEndOfFile(): Promise<void> {
    const file = this.img.file;
    const end = Math.ceil(file.size / 512) * 512;
    if (end !== file.size) await file.truncate(end);
  }

  private async writeCompressedCluster(cur: number, packed: Uint8Array): Promise<void> {
    const img = this.img;
    const ext = new Qcow2Extent();
    await img.lock.lock();
    try {
      do {
        await this.writer.ensureWritableTable(cur);
        await img.map.lookup(cur, img.clusterSize, ext);
      } while (await this.writer.waitForAllocations(cur / img.clusterSize, 1));
      // Compression never overwrites data.
      if (ext.type !== ClusterType.Unallocated && ext.type !== ClusterType.ZeroPlain) throw new BlockError('EIO');
      const host = await this.allocBytes(packed.length);
      await img.file.write(host, packed);
      const [hi, lo] = encodeCompressed(host, packed.length, img.clusterBits);
      await img.markDirtyIfLazy();
      await img.map.setL2Raw(ext.table!, ext.index, hi, lo);
      img.metadata.newDataLinked();
      await img.writeBackIfOverCapacity();
    } finally {
      img.lock.unlock();
    }
  }

  /** Caller holds the lock. Returns the host offset of `size` bytes, counted. */
  private async allocBytes(size: number): Promise<number> {
    const rc = this.img.refcounts;
    const cs = this.img.clusterSize;
    let off = this.freeByteOffset;
    if (off !== 0) {
      const count = await rc.get(Math.floor(off / cs));
      // A freed, shared (snapshot) or saturated cluster cannot take more.
      if (count !== this.packRefcount || count >= rc.maxValue) off = 0;
    }
    if (off !== 0) {
      const c = Math.floor(off / cs);
      const free = cs - (off % cs);
      if (free >= size) {
        await rc.update(c, 1, 1);
      } else if ((await rc.firstFree()) === c + 1 && (await rc.hasBlockFor(c + 1))) {
        // Spill into the next host cluster when it is the one an allocation
        // would take now: both get a reference. As in qemu-img's files, a
        // next cluster that first needs a new refcount block is not spilled
        // into: the data starts there instead (the block goes after it).
        await rc.update(c, 2, 1);
      } else {
        off = 0;
      }
    }
    if (off === 0) off = await rc.allocate(Math.ceil(size / cs));
    const end = off + size;
    this.freeByteOffset = end % cs === 0 ? 0 : end;
    if (this.freeByteOffset !== 0) this.packRefcount = await rc.get(Math.floor(end / cs));
    return off;
  }
}
