// The copy engine of qemu-img convert: a map of the sources (data or zero
// extents, made a few runs ahead of the copy, see source-map.ts), a fixed set
// of workers with one reusable buffer each, reads in parallel and writes in
// image order unless out-of-order writes (-W) are allowed.
// Data whose block status names a host file range is not read at all when the
// file driver can map it (page-cache views, see HostMapper): zero detection
// looks at the page cache and the target write copies straight from it, the
// one copy qemu-img's copy_range offload would leave (plain qemu-img convert
// reads into a buffer first). What gets written, and in which order, is the same.
import { allocAlignedBuffer, BlockError, strerror } from '@tsemu/block-core';
import type { BlockBackend } from '@tsemu/block-core';
import { CommandError } from './io.js';
import type { ProgressMeter } from './progress.js';
import { CONVERT_BUFFER_SIZE, ProgressSteps, SALVAGE_SECTOR, SourceMapper, type ExtentMap } from './source-map.js';
import { isZeroRange, SparseRanges, splitSparse } from './sparse.js';

export { CONVERT_BUFFER_SIZE };

export interface ConvertSource {
  blk: BlockBackend;
  length: number;
}

export interface ConvertSettings {
  sources: ConvertSource[];
  target: BlockBackend;
  /** -S in bytes; 0 = copy everything as data. */
  minSparse: number;
  /** The target reads as zeroes already (freshly created, or --target-is-zero). */
  targetIsZero: boolean;
  /** -m */
  parallel: number;
  /** -W */
  outOfOrder: boolean;
  progress?: ProgressMeter;
  /** -B: copy only what the source's top layer allocates; the rest stays with the target's backing file. */
  topLayerOnly?: boolean;
  /** -c: the target's cluster size; whole non-zero clusters are written compressed. */
  compressClusterSize?: number;
  /** Reports a failed chunk (qemu-img prints one line per failed request). */
  onError(line: string): void;
  /**
   * --salvage: a chunk whose read fails is read again sector by sector, and
   * sectors that still fail read as zeroes; each is reported here (a
   * warning; -q passes a no-op). Undefined: a failed read stops the copy.
   */
  salvage?: (line: string) => void;
}


/**
 * The map is made on demand, a few runs ahead of the copy: when fewer than
 * MAP_LOW extents are left unclaimed, the mapper runs (after the current
 * callback, so the read or write just issued goes out first) until MAP_AHEAD
 * are. Runs whose block status is answered from memory are mapped
 * synchronously, so small batches keep the in-order write chain from waiting
 * on the map.
 */
const MAP_LOW = 8;
const MAP_AHEAD = 16;

/** What claim() found. */
const CLAIMED = 0;
const CLAIM_NONE = 1;
const CLAIM_WAIT = 2;

/** Where advance() picks a worker up. */
const STEP_CLAIM = 0;
const STEP_READ = 1;
const STEP_TURN = 2;
const STEP_WRITTEN = 3;

const MAY_UNMAP = Object.freeze({ mayUnmap: true });

/**
 * One worker's state: its buffer and the chunk it holds. Reused for every
 * chunk, with its request callbacks bound once, so a chunk allocates no closure.
 */
class Worker {
  // Page-aligned: copies into buffers a few bytes past a page start ran ~4x slower (4K aliasing).
  readonly bytes = allocAlignedBuffer(CONVERT_BUFFER_SIZE);
  readonly words = new Int32Array(this.bytes.buffer, this.bytes.byteOffset, CONVERT_BUFFER_SIZE / 4);
  /** The chunk's bytes: `bytes`, or a page-cache view (`mapped`), and an Int32Array over the same memory. */
  data: Uint8Array = this.bytes;
  dataWords: Int32Array = this.words;
  mapped: Uint8Array | undefined;
  /** -S: the chunk's data and hole ranges, found before its turn to write. */
  readonly ranges = new SparseRanges(CONVERT_BUFFER_SIZE);
  seq = 0;
  offset = 0;
  length = 0;
  zero = false;
  source = 0;
  sourceBase = 0;
  /** Host offset of the chunk in the extent's mapper, or -1. */
  host = -1;
  mapper = -1;
  /** For the error line: 'reading' or 'writing'. */
  stage = 'reading';
  readonly readDone: () => void;
  readonly writeDone: () => void;
  readonly failed: (err: unknown) => void;
  readonly readFailed: (err: unknown) => void;

  constructor(job: ConvertJob) {
    this.readDone = () => job.advance(this, STEP_READ);
    this.writeDone = () => job.advance(this, STEP_WRITTEN);
    this.failed = (err: unknown) => job.chunkFailed(this, err);
    this.readFailed = (err: unknown) => job.readFailed(this, err);
  }
}

export class ConvertJob {
  private readonly mapper: SourceMapper;
  private readonly map: ExtentMap;
  private extent = 0;
  private extentPos = 0;
  private nextSeq = 0;
  private turn = 0;
  /** Workers whose chunk is read and scanned, by sequence number, waiting for their turn to write. */
  private readonly turnWaiters = new Map<number, Worker>();
  /** Workers that found no mapped extent left to claim, waiting for the mapper. */
  private readonly starved: Worker[] = [];
  private active = 0;
  private finished: () => void = () => {};
  private failure: unknown;
  /** A mapAhead() is running / about to start; the promise of one that is waiting for a block-status answer. */
  private mapRunning = false;
  private mapScheduled = false;
  private mapping: Promise<void> | undefined;
  /** A block-status failure while mapping behind the copy (boxed: anything can be thrown). */
  private mapError: { error: unknown } | undefined;
  /** An exception from reporting a failure (boxed: anything can be thrown). */
  private thrown: { error: unknown } | undefined;
  private readonly steps: ProgressSteps;

  constructor(private readonly settings: ConvertSettings) {
    this.steps = new ProgressSteps(settings.progress !== undefined);
    this.mapper = new SourceMapper(settings, this.steps);
    this.map = this.mapper.map;
  }

  async run(): Promise<void> {
    const s = this.settings;
    // -p needs the total first (qemu-img's counting pass); then a failure is thrown before anything is written.
    // --salvage makes the pass too: qemu-img's block-status warnings come from it first.
    if (this.steps.enabled || s.salvage !== undefined) await this.mapper.all();
    // convert printed the 0 line before opening anything.
    const done = new Promise<void>((resolve) => { this.finished = resolve; });
    const workers = Math.max(1, s.parallel);
    this.active = workers;
    // Without -p the workers find an empty map, wait, and the mapper's first answers wake them.
    for (let i = 0; i < workers; i++) this.advance(new Worker(this), STEP_CLAIM);
    await done;
    while (this.mapping !== undefined) await this.mapping; // stopped by a failed request: let it settle
    if (this.thrown !== undefined) throw this.thrown.error;
    // The map failed (workers stop claiming): the error is reported as when the whole map was made first.
    if (this.mapError !== undefined) throw this.mapError.error;
    // Each failed request has been reported already.
    if (this.failure !== undefined) throw new CommandError('', 1);
    // As qemu-img: an empty compressed write tells the format the stream ended (qcow2 pads its file to a sector).
    if (s.compressClusterSize !== undefined) await s.target.writeCompressed(0, new Uint8Array(0));
    await s.target.flush();
    s.progress?.set(100);
  }

  /** Starts the mapper after the current callback, unless it runs already or has nothing left. */
  private wantMap(): void {
    if (this.mapScheduled || this.mapRunning || this.mapper.done || this.mapError !== undefined) return;
    this.mapScheduled = true;
    queueMicrotask(this.startMapping);
  }

  private readonly startMapping = (): void => {
    this.mapScheduled = false;
    if (this.mapRunning) return;
    const p = this.mapAhead();
    // Answers from memory finish it before it returns: only a run still waiting is kept for run() to settle.
    if (this.mapRunning) this.mapping = p;
  };

  /** Maps until MAP_AHEAD extents are unclaimed (or all is mapped); a starved worker is woken as soon as it can claim. */
  private async mapAhead(): Promise<void> {
    const mapper = this.mapper;
    this.mapRunning = true;
    try {
      while (!mapper.done && this.failure === undefined && this.map.count - this.extent < MAP_AHEAD) {
        if (!mapper.stepNow()) await mapper.step();
        if (this.starved.length > 0) this.wakeStarved();
      }
    } catch (err) {
      this.mapError = { error: err };
    }
    this.mapRunning = false;
    this.mapping = undefined;
    // Done, failed or stopped by a failed request: the starved workers claim the rest or retire.
    this.wakeStarved();
  }

  private wakeStarved(): void {
    const q = this.starved;
    while (q.length > 0 && this.claimable() !== CLAIM_WAIT) this.advance(q.shift()!, STEP_CLAIM);
  }

  /** Whether claim() would find a chunk now, none ever again, or must wait for the mapper. */
  private claimable(): number {
    if (this.failure !== undefined || this.mapError !== undefined) return CLAIM_NONE;
    // The last extent may still grow (zero runs merge) until the map is complete.
    if (this.mapper.done) return this.extent < this.map.count ? CLAIMED : CLAIM_NONE;
    return this.extent < this.map.count - 1 ? CLAIMED : CLAIM_WAIT;
  }

  /** Takes the next chunk (at most one buffer, never crossing an extent), if claimable() allows. */
  private claim(w: Worker): number {
    if (!this.mapper.done && this.map.count - this.extent <= MAP_LOW) this.wantMap();
    const can = this.claimable();
    if (can !== CLAIMED) return can;
    const i = this.extent;
    if (this.map.salvaged.size > 0 && this.extentPos === 0) {
      const line = this.map.salvaged.get(i);
      if (line !== undefined) this.settings.salvage!(line);
    }
    const remaining = this.map.length[i]! - this.extentPos;
    const n = Math.min(remaining, CONVERT_BUFFER_SIZE);
    w.seq = this.nextSeq++;
    w.offset = this.map.start[i]! + this.extentPos;
    w.length = n;
    w.zero = this.map.zero[i]!;
    w.source = this.map.source[i]!;
    w.sourceBase = this.map.sourceBase[i]!;
    const host = this.map.host[i]!;
    w.host = host < 0 ? -1 : host + this.extentPos;
    w.mapper = this.map.mapper[i]!;
    w.stage = 'reading';
    if (n === remaining) {
      this.extent++;
      this.extentPos = 0;
    } else {
      this.extentPos += n;
    }
    return CLAIMED;
  }

  /**
   * A worker's copy loop as a small state machine instead of an async
   * function: claim a chunk, read it (in parallel with the other workers),
   * scan it for zeroes, wait for its turn, write it (in image order), pass
   * the turn on. Steps that finish synchronously (nothing to read or write)
   * run in this loop; it returns whenever a request is in flight, and the
   * request's callback calls it again at the next step. (The async version
   * cost V8 ~20-40 ms of optimising compiles per run, for a few hundred turns.)
   */
  advance(w: Worker, step: number): void {
    const s = this.settings;
    try {
      for (;;) {
        if (step === STEP_WRITTEN) {
          this.unmapChunk(w);
          const next = this.passTurn();
          this.reportProgress(w.offset + w.length);
          // The woken worker's write goes out before this one reads its next chunk
          // (nested at most once per waiting worker: its own loop takes the rest).
          if (next !== undefined) this.advance(next, STEP_TURN);
          step = STEP_CLAIM;
        }
        if (step === STEP_CLAIM) {
          const claimed = this.claim(w);
          if (claimed !== CLAIMED) {
            if (claimed === CLAIM_WAIT) this.starved.push(w);
            else this.retire();
            return;
          }
          if (!w.zero && !this.mapChunk(w)) {
            w.data = w.bytes;
            w.dataWords = w.words;
            const view = w.length === CONVERT_BUFFER_SIZE ? w.bytes : w.bytes.subarray(0, w.length);
            s.sources[w.source]!.blk.read(w.offset - w.sourceBase, view).then(w.readDone, w.readFailed);
            return;
          }
          step = STEP_READ;
        }
        if (step === STEP_READ) {
          // Zero detection before waiting for the turn: it overlaps the writes of earlier chunks.
          if (!w.zero && s.compressClusterSize === undefined && s.minSparse !== 0) {
            splitSparse(w.data, w.dataWords, w.length, w.offset, s.minSparse, w.ranges);
          }
          step = STEP_TURN;
        }
        // STEP_TURN
        if (this.failure !== undefined) {
          this.unmapChunk(w);
          return this.retire();
        }
        if (!s.outOfOrder) {
          if (w.seq !== this.turn) {
            this.turnWaiters.set(w.seq, w);
            return;
          }
          this.turnWaiters.delete(w.seq); // woken by passTurn (left registered until now, so fail() can still wake it)
        }
        w.stage = 'writing';
        const written = this.writeChunk(w);
        if (written !== undefined) {
          written.then(w.writeDone, w.failed);
          return;
        }
        step = STEP_WRITTEN;
      }
    } catch (err) {
      this.chunkFailed(w, err);
    }
  }

  /** A request of w's chunk failed: report it, stop everyone. Never throws (it runs as a promise callback). */
  chunkFailed(w: Worker, err: unknown): void {
    try {
      this.unmapChunk(w);
      this.fail(err, w.stage, w.offset);
    } catch (thrown) {
      // Reporting itself failed: run() rethrows it, as the async loop's rejection did.
      this.thrown ??= { error: thrown };
    } finally {
      this.retire();
    }
  }

  /** A chunk's read failed: with --salvage read it again sector by sector, else stop. Never throws. */
  readFailed(w: Worker, err: unknown): void {
    const report = this.settings.salvage;
    if (report === undefined || !(err instanceof BlockError)) return this.chunkFailed(w, err);
    this.salvageChunk(w, report).then(w.readDone, w.failed);
  }

  /** qemu-img's salvage: sectors that fail again read as zeroes, reported by their offset in the source. */
  private async salvageChunk(w: Worker, report: (line: string) => void): Promise<void> {
    const blk = this.settings.sources[w.source]!.blk;
    const base = w.offset - w.sourceBase;
    for (let at = 0; at < w.length; at += SALVAGE_SECTOR) {
      const sector = w.bytes.subarray(at, Math.min(at + SALVAGE_SECTOR, w.length));
      try {
        await blk.read(base + at, sector);
      } catch (err) {
        if (!(err instanceof BlockError)) throw err;
        report(`error while reading offset ${base + at}: ${strerror(err.code) ?? err.message}`);
        sector.fill(0);
      }
    }
  }

  private retire(): void {
    if (--this.active === 0) this.finished();
  }

  /** A data chunk held contiguously by a mappable host file: use a page-cache view instead of reading. */
  private mapChunk(w: Worker): boolean {
    if (w.host < 0 || this.settings.compressClusterSize !== undefined) return false;
    const m = this.map.mappers[w.mapper]!;
    const view = m.mapForRead(w.host, w.length);
    if (view === undefined) return false;
    if ((view.byteOffset & 3) !== 0) {
      // Zero detection reads 32-bit words; a host offset that is not a multiple of 4 is read instead.
      m.unmapView(view);
      return false;
    }
    w.mapped = view;
    w.data = view;
    w.dataWords = new Int32Array(view.buffer, view.byteOffset, w.length >> 2);
    return true;
  }

  private unmapChunk(w: Worker): void {
    if (w.mapped === undefined) return;
    this.map.mappers[w.mapper]!.unmapView(w.mapped);
    w.mapped = undefined;
    w.data = w.bytes;
    w.dataWords = w.words;
  }

  /** Prints the -p steps of every qemu-img iteration that ends by `end` (chunks complete in order). */
  private reportProgress(end: number): void {
    const p = this.settings.progress;
    const st = this.steps;
    if (p === undefined || st.total === 0) return;
    while (st.run < st.start.length) {
      const r = st.run;
      const len = st.length[r]!;
      const n = Math.min(st.piece[r]!, len - st.runDone);
      if (st.start[r]! + st.runDone + n > end) return;
      st.runDone += n;
      st.done += n;
      p.set((st.done * 100) / st.total);
      if (st.runDone === len) {
        st.run++;
        st.runDone = 0;
      }
    }
  }

  /** The chunk's writes: undefined when there is nothing to write, else a promise; the usual whole-data chunk is one request. */
  private writeChunk(w: Worker): Promise<void> | undefined {
    const s = this.settings;
    if (w.zero) return s.targetIsZero ? undefined : s.target.writeZeroes(w.offset, w.length, MAY_UNMAP);
    if (s.compressClusterSize !== undefined) return this.writeCompressed(w, s.compressClusterSize);
    if (s.minSparse === 0) return this.writeData(w, 0, w.length);
    const r = w.ranges;
    if (r.count === 1) {
      return r.hole[0] ? this.writeHole(w.offset + r.start[0]!, r.end[0]! - r.start[0]!) : this.writeData(w, r.start[0]!, r.end[0]!);
    }
    return this.writeRanges(w);
  }

  /** Data and hole ranges of one chunk, one after another. */
  private async writeRanges(w: Worker): Promise<void> {
    const r = w.ranges;
    for (let i = 0; i < r.count; i++) {
      if (r.hole[i]) await this.writeHole(w.offset + r.start[i]!, r.end[i]! - r.start[i]!);
      else await this.writeData(w, r.start[i]!, r.end[i]!);
    }
  }

  private writeData(w: Worker, start: number, end: number): Promise<void> {
    const view = start === 0 && end === w.data.length ? w.data : w.data.subarray(start, end);
    return this.settings.target.write(w.offset + start, view);
  }

  /**
   * All-zero clusters are skipped (or zeroed); each run of other whole
   * clusters goes to the target in one compressed write, so the driver can
   * deflate the run's clusters in parallel on the thread pool.
   */
  private async writeCompressed(w: Worker, cs: number): Promise<void> {
    const t = this.settings.target;
    let run = -1; // start of the pending run of clusters to compress
    for (let pos = 0; pos < w.length; pos += cs) {
      const end = Math.min(pos + cs, w.length);
      const zero = this.settings.minSparse !== 0 && isZeroRange(w.bytes, w.words, pos, end);
      const aligned = (w.offset + pos) % cs === 0;
      if (run >= 0 && (zero || !aligned)) {
        await t.writeCompressed(w.offset + run, w.bytes.subarray(run, pos));
        run = -1;
      }
      if (zero) await this.writeHole(w.offset + pos, end - pos);
      else if (!aligned) await t.write(w.offset + pos, w.bytes.subarray(pos, end)); // unaligned (concatenated sources)
      else if (run < 0) run = pos;
    }
    if (run >= 0) await t.writeCompressed(w.offset + run, w.bytes.subarray(run, w.length));
  }

  private writeHole(offset: number, length: number): Promise<void> | undefined {
    return this.settings.targetIsZero ? undefined : this.settings.target.writeZeroes(offset, length, MAY_UNMAP);
  }

  /** Moves the turn on; returns the worker whose turn it is now if it is waiting (advance() takes it off the list). */
  private passTurn(): Worker | undefined {
    if (this.settings.outOfOrder) return undefined;
    this.turn++;
    return this.turnWaiters.get(this.turn);
  }

  private fail(err: unknown, stage: string, offset: number): void {
    if (this.failure === undefined) this.failure = err;
    try {
      const reason = err instanceof BlockError ? strerror(err.code) ?? err.message : err instanceof Error ? err.message : String(err);
      this.settings.onError(`error while ${stage} at byte ${offset}: ${reason}`);
    } finally {
      // Everyone waiting for a turn must wake up to see the failure and stop.
      const waiters = [...this.turnWaiters.values()];
      this.turnWaiters.clear();
      for (const w of waiters) this.advance(w, STEP_TURN);
    }
  }
}
