export { CoMutex } from './mutex.js';
export { CoRwLock } from './rwlock.js';
export { CoQueue } from './queue.js';
export { sleep } from './sleep.js';
export { BoundedPool, runPool } from './pool.js';
export type { PoolTask, PoolOptions } from './pool.js';
export { AbortError, isAbortError } from './abort.js';
