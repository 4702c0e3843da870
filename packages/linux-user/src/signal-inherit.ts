import { readFileSync } from 'node:fs';

/**
 * What a new program inherits from whoever started it: the ignored signals
 * (execve keeps SIG_IGN), the signal mask and the pending signals. Node
 * resets signals 1-31 to their defaults and empties the mask before any
 * JavaScript runs, so:
 * - a tsemu-arm that starts another one for the same guest process (the
 *   pure-JS fallback's execve) hands the three over in TSEMU_SIGNAL_STATE
 *   ("<ignored>:<blocked>:<pending>", hex, bit sig-1), taken out of our
 *   environment here, at load, before the guest's environment is built;
 * - otherwise only the real-time signals (34-64), which Node leaves alone,
 *   can still be seen ignored (/proc/self/status SigIgn); an inherited
 *   SIG_IGN of 1-31 is lost (qemu-arm, a C program, passes those through).
 */
export const SIGNAL_STATE_ENV = 'TSEMU_SIGNAL_STATE';

/** Bits of the real-time signals 34-64 (glibc keeps 32 and 33). */
const RT_BITS = 0xfffffffen << 32n;

export interface InheritedSignals { ignored: bigint; blocked: bigint; pending: bigint }

function parseHex(v: string | undefined): bigint {
  return v && /^[0-9a-f]{1,16}$/i.test(v) ? BigInt('0x' + v) : 0n;
}

function take(): InheritedSignals {
  const v = process.env[SIGNAL_STATE_ENV];
  if (v !== undefined) {
    delete process.env[SIGNAL_STATE_ENV];
    const [ign, blk, pend] = v.split(':');
    return { ignored: parseHex(ign), blocked: parseHex(blk), pending: parseHex(pend) };
  }
  try {
    const m = /^SigIgn:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'));
    return { ignored: parseHex(m?.[1]) & RT_BITS, blocked: 0n, pending: 0n };
  } catch {
    return { ignored: 0n, blocked: 0n, pending: 0n }; // not Linux
  }
}

export const inheritedSignals: InheritedSignals = take();

/** The variable's value for a program started with these dispositions, mask and pending signals. */
export function signalStateValue(ignored: bigint, blocked: bigint, pending: bigint): string {
  return `${ignored.toString(16)}:${blocked.toString(16)}:${pending.toString(16)}`;
}
