/**
 * The error that cancelled operations reject with. Shaped like Node's own
 * AbortError (name 'AbortError', code 'ABORT_ERR', the signal's reason as
 * `cause`) so callers can test `err.name === 'AbortError'` either way.
 */
export class AbortError extends Error {
  override readonly name = 'AbortError';
  readonly code = 'ABORT_ERR';

  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** True for our AbortError, Node's, and the DOMException that `AbortSignal.abort()` uses. */
export function isAbortError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError';
}

export function abortErrorFor(signal: AbortSignal): AbortError {
  return new AbortError(undefined, { cause: signal.reason });
}

/** One shared settled promise: the uncontended paths return it instead of allocating. */
export const RESOLVED: Promise<void> = Promise.resolve();
