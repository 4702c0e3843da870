// Numbers as qemu-nbd reads them (qemu_strtoi / qemu_strtou64 over glibc's
// strtol family, base 0): leading white space, a sign, 0x hex, 0 octal, and
// nothing after the digits. Also glibc getaddrinfo's reading of a port.

const SPACE = /^[ \t\n\v\f\r]*/;

/** Sign and magnitude of a whole base-0 C integer, or undefined when it is not one. */
export function parseCInteger(text: string): { negative: boolean; magnitude: bigint } | undefined {
  let s = text.replace(SPACE, '');
  let negative = false;
  if (s[0] === '+' || s[0] === '-') {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  let digits: RegExp;
  let prefix = '';
  if (/^0[xX][0-9a-fA-F]/.test(s)) {
    digits = /^[0-9a-fA-F]+$/;
    prefix = '0x';
    s = s.slice(2);
  } else if (s.startsWith('0')) {
    digits = /^[0-7]+$/;
    prefix = '0o';
  } else {
    digits = /^[0-9]+$/;
  }
  if (!digits.test(s)) return undefined;
  return { negative, magnitude: BigInt(prefix + s) };
}

const U64 = 1n << 64n;

/** qemu_strtoi: a C int, or undefined (bad text or out of range). */
export function strtoi(text: string): number | undefined {
  const n = parseCInteger(text);
  if (!n) return undefined;
  const v = n.negative ? -n.magnitude : n.magnitude;
  return v < -(1n << 31n) || v >= 1n << 31n ? undefined : Number(v);
}

/** qemu_strtou64 (7.2): a negative number wraps modulo 2^64, as strtoull does. */
export function strtou64(text: string): bigint | undefined {
  const n = parseCInteger(text);
  if (!n || n.magnitude >= U64) return undefined;
  return n.negative ? (U64 - n.magnitude) % U64 : n.magnitude;
}

/**
 * glibc getaddrinfo's service number: strtoul base 10 over the whole string (an empty
 * string is 0), kept as a C int; -1 or trailing text means "look the name up".
 * Returns the port (the int's low 16 bits, as htons keeps them) or undefined for a name.
 */
export function numericService(text: string): number | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)([0-9]+)$/.exec(text);
  if (!m) return text === '' ? 0 : undefined;
  let v = BigInt(m[2]!);
  if (v >= U64) v = U64 - 1n; // ERANGE: ULONG_MAX
  else if (m[1] === '-') v = (U64 - v) % U64;
  const asInt = BigInt.asIntN(32, v);
  return asInt === -1n ? undefined : Number(v & 0xffffn);
}
