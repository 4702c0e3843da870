// QEMU's number-typed options (qemu_strtou64, base 0): leading white space,
// an optional sign (a minus wraps modulo 2^64), 0x hex or 0 octal, nothing
// after the digits; above 2^64 - 1 is a range error.

/** The value, or 'invalid' ("expects a number") / 'range' ("is too large"). */
export function parseCNumber(text: string): bigint | 'invalid' | 'range' {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (m === null) return 'invalid';
  const digits = m[2]!;
  const mag = BigInt(/^0[0-7]+$/.test(digits) ? `0o${digits.slice(1)}` : digits);
  if (mag > 0xffffffffffffffffn) return 'range';
  return m[1] === '-' ? BigInt.asUintN(64, -mag) : mag;
}

/** A number option as QEMU's qcow2 code reads it into a C int (truncated to 32 bits, signed). */
export function cIntOption(name: string, text: string): number {
  const v = parseCNumber(text);
  if (v === 'invalid') throw new Error(`Parameter '${name}' expects a number`);
  if (v === 'range') throw new Error(`Value '${text}' is too large for parameter '${name}'`);
  return Number(BigInt.asIntN(32, v));
}

/** qemu_strtoi64 (base 0) of the same text: the value, or undefined when it is not a number or outside int64. */
export function parseCInt64(text: string): bigint | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (m === null) return undefined;
  const digits = m[2]!;
  const mag = BigInt(/^0[0-7]+$/.test(digits) ? `0o${digits.slice(1)}` : digits);
  const v = m[1] === '-' ? -mag : mag;
  return v < -(1n << 63n) || v >= 1n << 63n ? undefined : v;
}
