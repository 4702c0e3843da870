// qemu-io's output formats: sizes (cvtstr), times (timestr), the two-line I/O
// report and the hex dump. Numbers follow C printf, which rounds exact ties to
// even where JavaScript's toFixed rounds them up.

const POW10 = Array.from({ length: 16 }, (_, i) => 10 ** i);
/** "0".."9".."0000009" etc: the fraction digits of n < 10^d, zero-padded (no padStart per call). */
const ZEROS = ['', '0', '00', '000', '0000', '00000', '000000'];

/**
 * The common case of cFixed without toFixed (the slowest step of a report):
 * x >= 0, at most 6 digits, x * 10^digits under 2^31 (so every integer below
 * is a small integer whose string V8 caches) and clearly away from a tie.
 * Rounds the scaled value to nearest; undefined when the slow path must decide.
 */
function cFixedSmall(x: number, digits: number): string | undefined {
  const pow = POW10[digits]!;
  const scaled = x * pow;
  if (!(scaled >= 0 && scaled < 2147483647)) return undefined;
  const floor = Math.floor(scaled);
  const frac = scaled - floor;
  // The computed product is within 2^-52 relative of the exact one: a fraction
  // this far from .5 rounds the same way for both.
  if (Math.abs(frac - 0.5) <= scaled * 1e-14 + 1e-300) return undefined;
  const n = frac > 0.5 ? floor + 1 : floor;
  if (digits === 0) return String(n);
  const int = Math.floor(n / pow);
  const fracDigits = String(n - int * pow);
  return `${int}.${ZEROS[digits - fracDigits.length]}${fracDigits}`;
}

/** C's "%.Nf" for a double. */
export function cFixed(x: number, digits: number): string {
  if (digits <= 6) {
    const fast = cFixedSmall(x, digits);
    if (fast !== undefined) return fast;
  }
  if (Number.isNaN(x)) return x < 0 ? '-nan' : 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (Math.abs(x) >= 1e21) {
    const int = BigInt(x).toString();
    return digits > 0 ? `${int}.${'0'.repeat(digits)}` : int;
  }
  const plain = x.toFixed(digits);
  // Fast path: toFixed rounds the exact value correctly except on an exact
  // tie (it rounds up, C to even). x * 10^digits is off from the exact product
  // by under 2^-52 relative, so a fraction clearly away from .5 is no tie.
  if (x >= 0 && digits <= 15) {
    const scaled = x * POW10[digits]!;
    if (scaled < 2 ** 52 && Math.abs(scaled - Math.floor(scaled) - 0.5) > scaled * 1e-14 + 1e-300) return plain;
  }
  // A tie needs at most digits+1 fractional bits, so 25 extra digits show it exactly.
  const wide = x.toFixed(Math.min(100, digits + 25));
  const cut = wide.indexOf('.') + 1 + digits;
  if (!/^50*$/.test(wide.slice(cut))) return plain;
  const kept = wide.slice(0, digits > 0 ? cut : cut - 1);
  const last = kept.charCodeAt(kept.length - 1) - 48;
  return last % 2 === 0 ? kept : plain;
}

const SCALES = [2 ** 60, 2 ** 50, 2 ** 40, 2 ** 30, 2 ** 20, 2 ** 10];
const NAMES = [' EiB', ' PiB', ' TiB', ' GiB', ' MiB', ' KiB'];

/** qemu-io's cvtstr: "64 KiB", "1.938 MiB", "512 bytes", "157.408621 bytes" (bytes keep six decimals). */
export function cvtstr(value: number): string {
  let text: string | undefined;
  let suffix = ' bytes';
  for (let i = 0; i < SCALES.length; i++) {
    if (value >= SCALES[i]!) {
      text = cFixed(value / SCALES[i]!, 3);
      suffix = NAMES[i]!;
      break;
    }
  }
  text ??= cFixed(value, 6);
  const trim = text.indexOf('.000');
  return (trim >= 0 ? text.slice(0, trim) : text) + suffix;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/**
 * qemu-io's timestr: "00.01 sec" under a second, "H:MM:SS.ss" from one second or when `fixed` (-C).
 * `ns` is whole nanoseconds, as a number (exact below 2^53 ns, 104 days) or a bigint.
 */
export function timestr(ns: bigint | number, fixed = false): string {
  let sec: number;
  let frac: number;
  if (typeof ns === 'number') {
    sec = Math.floor(ns / 1e9);
    frac = (ns - sec * 1e9) / 1e9;
  } else {
    sec = Number(ns / 1_000_000_000n);
    frac = Number(ns % 1_000_000_000n) / 1e9;
  }
  if (!fixed && sec === 0) {
    const text = cFixed(frac, 2);
    return text.length === 4 ? `0${text} sec` : `${text.padStart(5, '0')} sec`;
  }
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  return `${h}:${pad2(m)}:${cFixed((sec % 60) + frac, 2).padStart(5, '0')}`;
}

/** The report after a read/write/discard ("read 512/512 bytes at offset 0" + rates), or the -C line. */
export function formatReport(op: string, ns: bigint | number, offset: number, count: number, total: number, ops: number, machine: boolean): string {
  const secs = Number(ns) / 1e9;
  if (machine) {
    return `${total},${ops},${timestr(ns, true)},${cFixed(total / secs, 3)},${cFixed(ops / secs, 3)}\n`;
  }
  return (
    `${op} ${total}/${count} bytes at offset ${offset}\n` +
    `${cvtstr(total)}, ${ops} ops; ${timestr(ns)} (${cvtstr(total / secs)}/sec and ${cFixed(ops / secs, 4)} ops/sec)\n`
  );
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0') + ' ');
const isAlnum = (b: number): boolean => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);

/** read -v: 16 bytes a line, "%08x:  " offset, hex bytes, then alphanumerics (others as '.'). */
export function hexDump(buf: Uint8Array, offset: number): string {
  const lines: string[] = [];
  for (let i = 0; i < buf.length; i += 16) {
    const end = Math.min(i + 16, buf.length);
    let hex = '';
    let chars = '';
    for (let j = i; j < end; j++) {
      hex += HEX[buf[j]];
      chars += isAlnum(buf[j]) ? String.fromCharCode(buf[j]) : '.';
    }
    lines.push(`${(offset + i).toString(16).padStart(8, '0')}:  ${hex} ${chars}\n`);
  }
  return lines.join('');
}
