// The tool's secret objects (--object secret,id=...), as QEMU's object tree
// holds them for the whole process: a driver that needs a key at open
// (luks's key-secret) asks through OpenContext.secret. The registry itself
// lives with the tools' objects (@tsemu/block-drivers), which sets the lookup.
import type { SecretLookup } from './driver.js';

let lookup: SecretLookup | undefined;

/** Sets (or clears) where secrets are looked up. */
export function setSecretLookup(fn: SecretLookup | undefined): void {
  lookup = fn;
}

/** The bytes of secret `id`, or undefined when there is no such secret. */
export const lookupSecret: SecretLookup = (id) => lookup?.(id);
