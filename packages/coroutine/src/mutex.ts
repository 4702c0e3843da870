import { Fifo } from './fifo.js';
import { RESOLVED } from './abort.js';

/**
 * A mutex for cooperative tasks, like QEMU's CoMutex.
 *
 * Fair: waiters get the lock in the order they called lock(). unlock() hands
 * the lock straight to the next waiter, so a task arriving in between cannot
 * barge ahead of it. Not re-entrant and not owner-checked: unlock() releases
 * whoever holds it.
 */
export class CoMutex {
  private held = false;
  private readonly waiters = new Fifo<() => void>();

  get locked(): boolean {
    return this.held;
  }

  /** Number of tasks waiting in lock(). */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Resolves once the caller holds the lock. When the lock is free it is
   * taken synchronously and a shared, already-resolved promise is returned.
   */
  lock(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return RESOLVED;
    }
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Takes the lock if it is free and nobody waits; never waits. */
  tryLock(): boolean {
    if (this.held) return false;
    this.held = true;
    return true;
  }

  unlock(): void {
    if (!this.held) throw new Error('CoMutex.unlock: mutex is not locked');
    const next = this.waiters.shift();
    if (next) next(); // ownership passes to `next`; `held` stays true
    else this.held = false;
  }

  /** Runs fn with the lock held and releases it however fn ends. */
  async withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    await this.lock();
    try {
      return await fn();
    } finally {
      this.unlock();
    }
  }
}
