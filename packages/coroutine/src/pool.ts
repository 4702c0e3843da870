import { Fifo } from './fifo.js';
import { RESOLVED, abortErrorFor } from './abort.js';

/** A unit of work. `signal` aborts when the pool fails or is cancelled, so long tasks can stop early. */
export type PoolTask = (signal: AbortSignal) => Promise<unknown>;

export interface PoolOptions {
  /** Aborting stops scheduling: waiting and later run() calls reject, drain() rejects with an AbortError. */
  signal?: AbortSignal;
}

interface PendingStart {
  readonly task: PoolTask;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Runs at most `limit` tasks at once, like qemu-img convert's `-m` in-flight
 * requests. run() resolves once the task has *started* (waiting while the
 * pool is full), which gives a producer loop backpressure; drain() waits for
 * everything started to finish.
 *
 * Failures are fail-fast: the first error stops scheduling (pending and later
 * run() calls reject with it) and drain() rejects with it once in-flight tasks
 * have settled. Every error is also kept in `errors`, so none are lost.
 */
export class BoundedPool {
  readonly limit: number;
  /** Every task error, in the order they happened. */
  readonly errors: unknown[] = [];
  private active = 0;
  private failure: { error: unknown } | undefined;
  private readonly pending = new Fifo<PendingStart>();
  private readonly drainers: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private readonly controller = new AbortController();
  private readonly userSignal: AbortSignal | undefined;

  constructor(limit: number, options: PoolOptions = {}) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`BoundedPool: limit must be an integer >= 1, got ${limit}`);
    this.limit = limit;
    this.userSignal = options.signal;
    if (this.userSignal?.aborted) this.onUserAbort();
    else this.userSignal?.addEventListener('abort', this.onUserAbort, { once: true });
  }

  /** Tasks currently running. */
  get inFlight(): number {
    return this.active;
  }

  /** Aborts when the pool fails or is cancelled; handed to every task. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The error that stopped the pool, if any. */
  get failed(): { error: unknown } | undefined {
    return this.failure;
  }

  /** Starts `task` as soon as a slot is free; resolves when it has started. */
  run(task: PoolTask): Promise<void> {
    if (this.failure) return Promise.reject(this.failure.error);
    if (this.active < this.limit && this.pending.length === 0) {
      this.start(task);
      return RESOLVED;
    }
    return new Promise<void>((resolve, reject) => this.pending.push({ task, resolve, reject }));
  }

  /** Resolves when nothing is running or waiting; rejects with the first failure. */
  drain(): Promise<void> {
    if (this.active === 0 && this.pending.length === 0) {
      return this.failure ? Promise.reject(this.failure.error) : RESOLVED;
    }
    return new Promise<void>((resolve, reject) => this.drainers.push({ resolve, reject }));
  }

  /** Stops scheduling with `error` as the failure (no-op if already failed). Running tasks see `signal` abort. */
  abort(error: unknown): void {
    if (this.failure) return;
    this.failure = { error };
    this.userSignal?.removeEventListener('abort', this.onUserAbort);
    const waiting = this.pending.takeAll();
    for (let i = 0; i < waiting.length; i++) waiting[i]!.reject(error);
    this.controller.abort(error);
    this.settleDrainers();
  }

  private start(task: PoolTask): void {
    this.active++;
    let result: Promise<unknown>;
    try {
      result = task(this.controller.signal);
    } catch (err) {
      result = Promise.reject(err);
    }
    // Bound handlers created once per pool: no closure per task.
    Promise.resolve(result).then(this.onDone, this.onError);
  }

  private readonly onDone = (): void => {
    this.active--;
    this.next();
  };

  private readonly onError = (err: unknown): void => {
    this.active--;
    this.errors.push(err);
    if (!this.failure) this.abort(err);
    this.next();
  };

  private readonly onUserAbort = (): void => {
    this.abort(abortErrorFor(this.userSignal!));
  };

  private next(): void {
    if (!this.failure) {
      const waiter = this.pending.shift();
      if (waiter) {
        this.start(waiter.task);
        waiter.resolve();
        return;
      }
    }
    this.settleDrainers();
  }

  private settleDrainers(): void {
    if (this.active > 0 || this.pending.length > 0 || this.drainers.length === 0) return;
    const drainers = this.drainers.splice(0);
    for (let i = 0; i < drainers.length; i++) {
      if (this.failure) drainers[i]!.reject(this.failure.error);
      else drainers[i]!.resolve();
    }
  }
}

/**
 * Runs tasks from `source` with at most `limit` in flight. The source is
 * pulled lazily, one task per free slot, so an async generator can describe
 * a 1 TiB copy without materialising it. Resolves when all tasks are done;
 * rejects with the first error (task or source) after in-flight tasks settle.
 */
export async function runPool(
  source: Iterable<PoolTask> | AsyncIterable<PoolTask>,
  limit: number,
  options: PoolOptions = {},
): Promise<void> {
  const pool = new BoundedPool(limit, options);
  try {
    for await (const task of source) {
      await pool.run(task);
    }
  } catch (err) {
    pool.abort(err); // no-op when run() rejected because the pool already failed
  }
  await pool.drain();
}
