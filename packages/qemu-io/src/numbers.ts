// Number parsing as qemu-io does it: sizes through qemu_strtosz rules (decimal
// with optional fraction and B/K/M/G/T/P/E suffix, or hex), pattern bytes and
// sleep times through strtol(base 0).

/** BDRV_REQUEST_MAX_BYTES: the largest single request qemu-io accepts. */
export const MAX_REQUEST_BYTES = 2147483136;

const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MAX = (1n << 63n) - 1n;
const SHIFTS: Record<string, bigint> = { b: 0n, k: 10n, m: 20n, g: 30n, t: 40n, p: 50n, e: 60n };

export type SizeResult =
  | { ok: true; value: number; warning?: string }
  | { ok: false; error: 'EINVAL' | 'ERANGE'; warning?: string };

const isSpace = (c: string | undefined): boolean => c !== undefined && ' \t\n\v\f\r'.includes(c);
const isDigit = (c: string | undefined, base: number): boolean =>
  c !== undefined && (base === 16 ? /[0-9a-fA-F]/.test(c) : /[0-9]/.test(c));

/** strtoull: returns the digits' value and the index after them, or end === start when nothing parsed. */
function strtoull(s: string, start: number, base: 10 | 16): { value: bigint; end: number; negative: boolean } {
  let i = start;
  while (isSpace(s[i])) i++;
  let negative = false;
  if (s[i] === '+' || s[i] === '-') negative = s[i++] === '-';
  if (base === 16 && s[i] === '0' && (s[i + 1] === 'x' || s[i + 1] === 'X') && isDigit(s[i + 2], 16)) i += 2;
  const digitsStart = i;
  while (isDigit(s[i], base)) i++;
  if (i === digitsStart) return { value: 0n, end: start, negative };
  const text = s.slice(digitsStart, i);
  return { value: BigInt(base === 16 ? `0x${text}` : text), end: i, negative };
}

/** strtod restricted to what can follow the integer part: ".digits[e[+-]digits]". */
function fractionAt(s: string, start: number): { value: number; end: number; exponent: boolean } | undefined {
  const m = /^\.([0-9]*)(?:([eE])[+-]?[0-9]+)?/.exec(s.slice(start));
  if (!m || m[1] === '') return undefined;
  return { value: Number(m[0]), end: start + m[0].length, exponent: m[2] !== undefined };
}

/** qemu_strtosz with the default suffix 'B', then qemu-io's int64 limit (cvtnum). */
export function cvtnum(s: string): SizeResult {
  const value = plainSize(s);
  return value >= 0 ? { ok: true, value } : cvtnumFull(s);
}

const FAST_SHIFT: Record<string, number> = { b: 0, B: 0, k: 10, K: 10, m: 20, M: 20, g: 30, G: 30, t: 40, T: 40 };

/**
 * Plain decimal digits with an optional b/k/m/g/t suffix ("4096", "4k",
 * "1M"), the shape of nearly every argument in a benchmark loop, without
 * BigInt, and without a result object: the value, or -1 when cvtnum's full
 * rules must decide (anything else, or a result past 2^53).
 */
export function plainSize(s: string): number {
  const n = s.length;
  if (n === 0 || n > 15) return -1;
  let value = 0;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    value = value * 10 + c;
  }
  if (i === 0) return -1;
  if (i === n) return value;
  if (i !== n - 1) return -1;
  const shift = FAST_SHIFT[s[i]!];
  if (shift === undefined) return -1;
  const total = value * 2 ** shift;
  return total <= Number.MAX_SAFE_INTEGER ? total : -1;
}

function cvtnumFull(s: string): SizeResult {
  let warning: string | undefined;
  const int = strtoull(s, 0, 10);
  if (int.end === 0) return { ok: false, error: 'EINVAL' };
  if (int.negative) return { ok: false, error: 'EINVAL' };
  if (int.value > UINT64_MAX) return { ok: false, error: 'ERANGE' };
  let value = int.value;
  let end = int.end;
  let fraction = 0n; // 64-bit fixed point
  let hex = false;
  if (value === 0n && (s[end] === 'x' || s[end] === 'X')) {
    const h = strtoull(s, 0, 16);
    if (h.value > UINT64_MAX) return { ok: false, error: 'ERANGE' };
    value = h.value;
    end = h.end;
    hex = true;
    if (s[end] === '.') return { ok: false, error: 'EINVAL' };
  } else if (s[end] === '.') {
    const f = fractionAt(s, end);
    if (!f) {
      end++; // "1." and "1.k": a bare dot
    } else {
      if (f.exponent) return { ok: false, error: 'EINVAL' };
      end = f.end;
      fraction = BigInt(Math.floor(f.value * 2 ** 64));
    }
  }
  let shift = 0n;
  const suffix = s[end]?.toLowerCase();
  if (suffix !== undefined && suffix in SHIFTS) {
    shift = SHIFTS[suffix];
    end++;
    if (hex) warning = `qemu-io: warning: Using a multiplier suffix on hex numbers is deprecated: ${s}`;
  }
  if (end !== s.length) return { ok: false, error: 'EINVAL', warning };
  if (fraction !== 0n && shift === 0n) return { ok: false, error: 'EINVAL', warning };
  const scaledFraction = fraction << shift;
  // Round the fixed-point fraction to nearest, halves up.
  const total = (value << shift) + (scaledFraction >> 64n) + ((scaledFraction >> 63n) & 1n);
  if (total > UINT64_MAX || total > INT64_MAX) return { ok: false, error: 'ERANGE', warning };
  return { ok: true, value: Number(total), warning };
}

/** qemu-io's print_cvtnum_err text (printed on stdout). */
export function cvtnumError(error: 'EINVAL' | 'ERANGE', arg: string): string {
  return error === 'ERANGE'
    ? `Parsing error: argument too large -- ${arg}`
    : `Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- ${arg}`;
}

/** strtol(arg, &end, 0) with the whole string consumed; undefined when not a number. */
export function strtolWhole(arg: string): number | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX](?=[0-9a-fA-F])[0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(arg);
  if (arg.trim() === '' && /^[ \t\n\v\f\r]*$/.test(arg)) return 0; // strtol of "" is 0 with nothing left over
  if (!m) return undefined;
  const body = m[2];
  let v: number;
  if (/^0[xX]/.test(body)) v = parseInt(body.slice(2), 16);
  else if (body.length > 1 && body[0] === '0') v = parseInt(body, 8);
  else v = parseInt(body, 10);
  return m[1] === '-' ? -v : v;
}

/** parse_pattern: a byte 0..255 in strtol base-0 syntax. */
export function parsePattern(arg: string): number | undefined {
  // A benchmark repeats the same few patterns thousands of times.
  if (patternCache.has(arg)) return patternCache.get(arg);
  const v = strtolWhole(arg);
  const result = v === undefined || v < 0 || v > 255 ? undefined : v;
  if (patternCache.size < 256) patternCache.set(arg, result);
  return result;
}

const patternCache = new Map<string, number | undefined>();
