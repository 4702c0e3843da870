import { abortErrorFor } from './abort.js';

/**
 * Resolves after `ms` milliseconds. If `signal` aborts first, the timer is
 * cleared and the promise rejects with an AbortError whose `cause` is the
 * signal's reason.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (!(ms >= 0)) return Promise.reject(new RangeError(`sleep: invalid delay ${ms}`));
  if (signal?.aborted) return Promise.reject(abortErrorFor(signal));
  return new Promise<void>((resolve, reject) => {
    if (!signal) {
      setTimeout(resolve, ms);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortErrorFor(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
