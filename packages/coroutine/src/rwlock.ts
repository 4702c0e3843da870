import { Fifo } from './fifo.js';
import { RESOLVED } from './abort.js';

interface RwWaiter {
  readonly write: boolean;
  readonly resolve: () => void;
}

/**
 * Readers/writer lock for cooperative tasks, like QEMU's CoRwlock.
 *
 * Readers share, a writer is exclusive. Waiters are served strictly in
 * arrival order: a reader that arrives while a writer waits queues behind
 * it, so a stream of readers cannot starve writers (nor the reverse).
 * Consecutive readers at the head of the queue are admitted together.
 */
export class CoRwLock {
  private readers = 0;
  private writer = false;
  private readonly waiters = new Fifo<RwWaiter>();

  /** Number of tasks currently holding a read lock. */
  get readerCount(): number {
    return this.readers;
  }

  get writeLocked(): boolean {
    return this.writer;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  rdlock(): Promise<void> {
    if (this.tryRdlock()) return RESOLVED;
    return new Promise<void>((resolve) => this.waiters.push({ write: false, resolve }));
  }

  wrlock(): Promise<void> {
    if (this.tryWrlock()) return RESOLVED;
    return new Promise<void>((resolve) => this.waiters.push({ write: true, resolve }));
  }

  tryRdlock(): boolean {
    if (this.writer || this.waiters.length > 0) return false;
    this.readers++;
    return true;
  }

  tryWrlock(): boolean {
    if (this.writer || this.readers > 0 || this.waiters.length > 0) return false;
    this.writer = true;
    return true;
  }

  /** Releases a read or write lock, whichever the caller holds. */
  unlock(): void {
    if (this.writer) this.writer = false;
    else if (this.readers > 0) this.readers--;
    else throw new Error('CoRwLock.unlock: lock is not held');
    this.admit();
  }

  /**
   * Turns the caller's read lock into a write lock. Immediate if the caller
   * is the only reader and nobody waits; otherwise the read lock is dropped
   * and the caller queues as a writer at the tail (as QEMU does), so other
   * tasks may write in between: re-check what you read.
   */
  upgrade(): Promise<void> {
    if (this.writer || this.readers === 0) {
      throw new Error('CoRwLock.upgrade: caller does not hold a read lock');
    }
    if (this.readers === 1 && this.waiters.length === 0) {
      this.readers = 0;
      this.writer = true;
      return RESOLVED;
    }
    this.readers--;
    const p = new Promise<void>((resolve) => this.waiters.push({ write: true, resolve }));
    this.admit();
    return p;
  }

  /** Turns the caller's write lock into a read lock and lets queued readers in. */
  downgrade(): void {
    if (!this.writer) throw new Error('CoRwLock.downgrade: caller does not hold the write lock');
    this.writer = false;
    this.readers = 1;
    this.admit();
  }

  /** Grants the lock to waiters at the head of the queue while they are compatible. */
  private admit(): void {
    for (;;) {
      const head = this.waiters.peek();
      if (head === undefined || this.writer) return;
      if (head.write) {
        if (this.readers > 0) return;
        this.writer = true;
      } else {
        this.readers++;
      }
      this.waiters.shift();
      head.resolve();
    }
  }
}
