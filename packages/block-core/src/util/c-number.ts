// QEMU's number-typed options, read as its qemu_strtou64 / qemu_strtoi64 do
// (base 0): leading white space, an optional sign, 0x hex or 0 octal, nothing
// after the digits.

/** Sign and magnitude of a C number, or undefined when the text is not one. */
function cDigits(text: string): { negative: boolean; magnitude: bigint } | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (m === null) return undefined;
  const digits = m[2]!;
  return { negative: m[1] === '-', magnitude: BigInt(/^0[0-7]+$/.test(digits) ? `0o${digits.slice(1)}` : digits) };
}

/**
 * qemu_strtou64: the value (a minus wraps modulo 2^64), or 'invalid'
 * ("expects a number") / 'range' ("is too large", above 2^64 - 1).
 */
export function parseCNumber(text: string): bigint | 'invalid' | 'range' {
  const d = cDigits(text);
  if (d === undefined) return 'invalid';
  if (d.magnitude > 0xffffffffffffffffn) return 'range';
  return d.negative ? BigInt.asUintN(64, -d.magnitude) : d.magnitude;
}

/** qemu_strtoi64: the value, or undefined when the text is not a number or lies outside int64. */
export function parseCInt64(text: string): bigint | undefined {
  const d = cDigits(text);
  if (d === undefined) return undefined;
  const v = d.negative ? -d.magnitude : d.magnitude;
  return v < -(1n << 63n) || v >= 1n << 63n ? undefined : v;
}

/** A number option as QEMU's code reads it into a C int (qemu_strtou64, then truncated to 32 bits, signed). */
export function cIntOption(name: string, text: string): number {
  const v = parseCNumber(text);
  if (v === 'invalid') throw new Error(`Parameter '${name}' expects a number`);
  if (v === 'range') throw new Error(`Value '${text}' is too large for parameter '${name}'`);
  return Number(BigInt.asIntN(32, v));
}
