// convert's map of its sources: which ranges of the concatenated sources are
// data (and where on the host, for page-cache views) and which read as zeroes,
// one block-status answer at a time. SourceMapper.step() maps one run, so the
// copy can start after the first few and the rest is mapped while the first
// reads are in the thread pool (qemu-img's counting pass is C and costs it
// ~1 ms; the same pass here cost 7-15 ms of interpreted code before the first
// read went out).
import { BlockError, strerror, type BlockBackend, type BlockStatus } from '@tsemu/block-core';
import { CommandError } from './io.js';

/** convert's copy unit; -p pieces of a data run are at most this long. */
export const CONVERT_BUFFER_SIZE = 2 * 1024 * 1024;

export interface MappedSource {
  blk: BlockBackend;
  length: number;
}

export interface MapSettings {
  sources: MappedSource[];
  /** -S in bytes; 0 = copy everything as data. */
  minSparse: number;
  /** -B: only what the source's top layer allocates. */
  topLayerOnly?: boolean;
  /** -c: the target's cluster size. */
  compressClusterSize?: number;
  /** --salvage: where a block-status failure is reported (then one sector is taken as data). */
  salvage?: (line: string) => void;
}

/** --salvage works in sectors (QEMU's BDRV_SECTOR_SIZE): a failed block-status query takes one as data, a failed read is retried one at a time. */
export const SALVAGE_SECTOR = 512;

/**
 * What block-core's file driver offers single-client tools: read-only views
 * of host file ranges over the page cache (undefined when it cannot map one:
 * then the chunk is read as usual). Duck-typed on the status's `file` node.
 */
export interface HostMapper {
  mapReads: boolean;
  mapForRead(offset: number, length: number): Uint8Array | undefined;
  unmapView(view: Uint8Array): void;
}

/**
 * Format drivers whose reads of a data run are plain reads of the host range
 * their block status names. Anything else (a filter such as blkdebug that
 * injects read errors, a format that transforms data) keeps the read path.
 */
const PLAIN_DATA_FORMATS = new Set(['raw', 'qcow2']);

function hostMapper(blk: BlockBackend, status: BlockStatus): HostMapper | undefined {
  const root = blk.root;
  const file = status.file;
  if (file === undefined || !PLAIN_DATA_FORMATS.has(root.driver.name)) return undefined;
  const state = file.state as Partial<HostMapper>;
  // Checked first: without x-mmap=on (the default) no child walk per extent.
  if (state.mapReads !== true || typeof state.mapForRead !== 'function') return undefined;
  let child = false;
  for (const c of root.children.values()) child ||= c === file;
  return child ? (state as HostMapper) : undefined;
}

/** Extents of the concatenated sources, as parallel arrays (no object per extent). */
export class ExtentMap {
  readonly start: number[] = [];
  readonly length: number[] = [];
  readonly zero: boolean[] = [];
  readonly source: number[] = [];
  readonly sourceBase: number[] = [];
  /** Host offset of a data extent's first byte in mappers[mapper], or -1 (read through the source's driver). */
  readonly host: number[] = [];
  readonly mapper: number[] = [];
  readonly mappers: HostMapper[] = [];
  /**
   * --salvage: extents taken as data after a failed block-status query, by
   * index, with the warning (qemu-img asks again, and warns again, when its
   * copy reaches them).
   */
  readonly salvaged = new Map<number, string>();

  /** Where a data run lives on the host, when a mappable file holds it contiguously. */
  addStatus(start: number, length: number, zero: boolean, source: number, base: number, blk: BlockBackend, status: BlockStatus): void {
    const m = !zero && status.data && status.offset !== undefined && !status.compressed ? hostMapper(blk, status) : undefined;
    if (m === undefined) return this.add(start, length, zero, source, base);
    let idx = this.mappers.indexOf(m);
    if (idx < 0) idx = this.mappers.push(m) - 1;
    this.add(start, length, zero, source, base, status.offset!, idx);
  }

  /**
   * Appends an extent. A zero extent right after a zero extent of the same
   * source extends it instead, so the last extent may still grow while the
   * map is being made (ConvertJob claims it only once the map is complete).
   */
  add(start: number, length: number, zero: boolean, source: number, base: number, host = -1, mapper = -1): void {
    const n = this.start.length - 1;
    // Data extents keep the block-status boundaries: qemu-img copies (and reports -p progress) per status run.
    if (n >= 0 && zero && this.zero[n] === zero && this.source[n] === source && this.start[n]! + this.length[n]! === start) {
      this.length[n]! += length;
      return;
    }
    this.start.push(start);
    this.length.push(length);
    this.zero.push(zero);
    this.source.push(source);
    this.sourceBase.push(base);
    this.host.push(host);
    this.mapper.push(mapper);
  }

  /** Adds a data extent, merged with a data extent that ends where it starts (-c). */
  addData(start: number, length: number, source: number, base: number): void {
    const n = this.start.length - 1;
    if (n >= 0 && !this.zero[n] && this.source[n] === source && this.start[n]! + this.length[n]! === start) {
      this.length[n]! += length;
      return;
    }
    this.add(start, length, false, source, base);
  }

  get count(): number {
    return this.start.length;
  }
}

/**
 * -p steps, as qemu-img counts them: one per copy iteration it counts as
 * allocated (data, or zeroes under -S 0). Kept as runs of equal pieces (a
 * run's iterations are at most `piece` bytes), so a large image costs a few
 * entries, not one per cluster. Only the sequence of printed values
 * matters, so the copy itself can move bigger pieces than qemu-img's iterations.
 */
export class ProgressSteps {
  readonly start: number[] = [];
  readonly length: number[] = [];
  readonly piece: number[] = [];
  total = 0;
  /** Next run and the bytes of it already reported. */
  run = 0;
  runDone = 0;
  done = 0;

  constructor(readonly enabled: boolean) {}

  /** Adds a counted run of `length` bytes, copied by qemu-img in pieces of at most `piece` bytes. */
  add(start: number, length: number, piece: number): void {
    if (!this.enabled || length <= 0) return;
    this.start.push(start);
    this.length.push(length);
    this.piece.push(piece);
    this.total += length;
  }
}

/**
 * Maps the sources in order, one run per step() (a block-status answer, or a
 * -c iteration), into `map` and `steps`. The map ends up the same however
 * the steps are spread over time.
 */
export class SourceMapper {
  readonly map = new ExtentMap();
  /** Every source mapped. */
  done = false;
  /** Source being mapped, its offset in the concatenation, and its next unmapped byte. */
  private i = 0;
  private base = 0;
  private offset = 0;
  /** -c: end and kind of the current block-status run. */
  private statusEnd = 0;
  private statusZero = false;

  constructor(private readonly settings: MapSettings, private readonly steps: ProgressSteps) {}

  /** Moves past finished sources; false (and `done`) once every source is mapped. */
  private nextSource(): boolean {
    const sources = this.settings.sources;
    while (this.i < sources.length && this.offset >= sources[this.i]!.length) {
      this.base += sources[this.i]!.length;
      this.i++;
      this.offset = 0;
      this.statusEnd = 0;
    }
    if (this.i < sources.length) return true;
    this.done = true;
    return false;
  }

  /** Maps the next run; false (and `done`) once every source is mapped. */
  async step(): Promise<boolean> {
    if (!this.nextSource()) return false;
    const s = this.settings;
    if (s.topLayerOnly) await this.topLayerStep();
    else if (s.compressClusterSize !== undefined) await this.compressedStep(s.compressClusterSize);
    else {
      const { blk, length } = s.sources[this.i]!;
      // The whole chain answers (bdrv_block_status_above): ranges no layer allocates are zero runs, not data.
      this.addPlain(await blk.blockStatusAbove(this.offset, length - this.offset).catch((err: unknown) => this.statusFailed(err)));
    }
    return true;
  }

  /**
   * step() without waiting: true when it mapped a run (or found the map
   * complete), false when the next run needs step(). Plain copies only (no
   * -B, no -c), whose block status the drivers can often answer from memory
   * (qcow2's cached L2 tables, SEEK_DATA on a raw file): no promise per run.
   */
  stepNow(): boolean {
    if (!this.nextSource()) return true;
    const s = this.settings;
    if (s.topLayerOnly || s.compressClusterSize !== undefined) return false;
    const { blk, length } = s.sources[this.i]!;
    const status = blk.blockStatusAboveNow(this.offset, length - this.offset);
    if (status === undefined) return false;
    this.addPlain(status);
    return true;
  }

  /** Maps everything left (-p needs the total before the first step is printed, as qemu-img's counting pass). */
  async all(): Promise<void> {
    while (!this.done) if (!this.stepNow()) await this.step();
  }

  /**
   * A block-status query at `this.offset` failed: qemu-img's error line, or
   * under --salvage its warning and one sector taken as data (the next sector
   * is asked again).
   */
  private statusFailed(err: unknown): BlockStatus {
    if (!(err instanceof BlockError)) throw err;
    const line = `error while reading block status at offset ${this.offset}: ${strerror(err.code) ?? err.message}`;
    if (this.settings.salvage === undefined) throw new CommandError(line);
    this.settings.salvage(line);
    this.map.salvaged.set(this.map.count, line);
    return { length: SALVAGE_SECTOR, data: true, zero: false, allocated: true };
  }

  private addPlain(status: BlockStatus): void {
    const { blk, length } = this.settings.sources[this.i]!;
    const offset = this.offset;
    const n = Math.min(Math.max(status.length, 1), length - offset);
    // -S 0 copies zero runs as data too (and counts them), run by run as qemu-img does.
    const zero = status.zero && this.settings.minSparse !== 0;
    this.map.addStatus(this.base + offset, n, zero, this.i, this.base, blk, status);
    if (!zero) this.steps.add(this.base + offset, n, CONVERT_BUFFER_SIZE);
    this.offset = offset + n;
  }

  /** -B: ranges the top layer does not allocate are left out of the map (never written). */
  private async topLayerStep(): Promise<void> {
    const { blk, length } = this.settings.sources[this.i]!;
    const offset = this.offset;
    const st = await blk.isAllocated(offset, length - offset);
    const n = Math.min(Math.max(st.length, 1), length - offset);
    if (!st.allocated) {
      this.offset = offset + n;
      return;
    }
    const status = await blk.blockStatus(offset, n);
    const m = Math.min(n, Math.max(status.length, 1));
    const zero = status.zero; // qemu-img's BLK_ZERO: also data clusters over host holes (metadata preallocation)
    this.map.addStatus(this.base + offset, m, zero, this.i, this.base, blk, status);
    if (!zero) this.steps.add(this.base + offset, m, CONVERT_BUFFER_SIZE);
    this.offset = offset + m;
  }

  /**
   * -c: qemu-img copies one cluster per iteration; a status run shorter than a
   * cluster is taken as a whole data cluster, longer runs are cut down to whole
   * clusters. Data iterations (and zero ones under -S 0) count for -p. Adjacent
   * data iterations are merged into one extent so whole buffers still go to
   * the compressed writer (which deflates their clusters in parallel).
   */
  private async compressedStep(cs: number): Promise<void> {
    const { blk, length } = this.settings.sources[this.i]!;
    const pos = this.offset;
    if (this.statusEnd <= pos) {
      const status = await blk.blockStatusAbove(pos, length - pos).catch((err: unknown) => this.statusFailed(err));
      this.statusEnd = pos + Math.min(Math.max(status.length, 1), length - pos);
      this.statusZero = status.zero;
    }
    let n = this.statusEnd - pos;
    let isZero = this.statusZero;
    if (n < cs) {
      n = Math.min(cs, length - pos);
      isZero = false;
    } else {
      n -= n % cs;
    }
    if (isZero && this.settings.minSparse !== 0) {
      this.map.add(this.base + pos, n, true, this.i, this.base);
    } else if (this.map.salvaged.has(this.map.count)) {
      // A cluster taken as data after a failed block-status query: its own extent, so the copy warns once for it.
      this.map.add(this.base + pos, n, false, this.i, this.base);
      this.steps.add(this.base + pos, n, cs);
    } else {
      // Under -S 0 zero runs are copied too: compressed like any data (qemu-img's files have them).
      this.map.addData(this.base + pos, n, this.i, this.base);
      this.steps.add(this.base + pos, n, cs);
    }
    this.offset = pos + n;
  }
}
