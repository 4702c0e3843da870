import { Fifo } from './fifo.js';
import type { CoMutex } from './mutex.js';

/**
 * A wait queue, like QEMU's CoQueue: tasks park in wait() until another task
 * wakes them, in FIFO order. Typical use is a condition variable: check a
 * condition under a CoMutex, and if it does not hold, wait(mutex), which
 * releases the mutex while parked and takes it back before returning.
 */
export class CoQueue {
  private readonly waiters = new Fifo<() => void>();

  get length(): number {
    return this.waiters.length;
  }

  isEmpty(): boolean {
    return this.waiters.length === 0;
  }

  /** Parks until woken. With `mutex` (which the caller must hold) behaves like qemu_co_queue_wait(q, lock). */
  async wait(mutex?: CoMutex): Promise<void> {
    const woken = new Promise<void>((resolve) => this.waiters.push(resolve));
    if (mutex) {
      mutex.unlock();
      await woken;
      await mutex.lock();
    } else {
      await woken;
    }
  }

  /** Wakes the oldest waiter (qemu_co_queue_next). Returns false if none waited. */
  wakeNext(): boolean {
    const next = this.waiters.shift();
    if (!next) return false;
    next();
    return true;
  }

  /** Wakes everyone waiting now (qemu_co_queue_restart_all); returns how many. */
  wakeAll(): number {
    const all = this.waiters.takeAll();
    for (let i = 0; i < all.length; i++) all[i]!();
    return all.length;
  }
}
