// C printf's "%.Nf" and "%.Ng", which round exact ties to even (glibc), where
// JavaScript's toFixed rounds them up: qemu-io prints 2.0625 MiB as "2.062 MiB".

const POW10 = Array.from({ length: 16 }, (_, i) => 10 ** i);

/** Rounds the exact decimal expansion of `x` (x >= 0) to `digits` decimals, ties to even. */
export function cFixed(x: number, digits: number): string {
  // Fast path: toFixed rounds the exact value correctly except on an exact tie
  // (it rounds up, C to even). x * 10^digits is off from the exact product by
  // under 2^-52 relative, so a fraction clearly away from .5 is no tie.
  if (x >= 0 && digits <= 15) {
    const scaled = x * POW10[digits]!;
    if (scaled < 2 ** 52 && Math.abs(scaled - Math.floor(scaled) - 0.5) > scaled * 1e-14 + 1e-300) return x.toFixed(digits);
  }
  const exact = x.toFixed(Math.min(100, digits + 60)); // exact for values with <= 60 binary fraction bits
  const dot = exact.indexOf('.');
  const keep = exact.slice(0, dot + 1 + digits).replace(/\.$/, '');
  const rest = exact.slice(dot + 1 + digits);
  const first = rest.charCodeAt(0) - 48;
  const tail = rest.slice(1);
  const lastDigit = keep.charCodeAt(keep.length - 1) - 48;
  const roundUp = first > 5 || (first === 5 && (/[1-9]/.test(tail) || lastDigit % 2 === 1));
  return roundUp ? incrementDecimal(keep) : keep;
}

function incrementDecimal(text: string): string {
  const chars = text.split('');
  let i = chars.length - 1;
  for (; i >= 0; i--) {
    if (chars[i] === '.') continue;
    if (chars[i] === '9') {
      chars[i] = '0';
    } else {
      chars[i] = String.fromCharCode(chars[i].charCodeAt(0) + 1);
      return chars.join('');
    }
  }
  return '1' + chars.join('');
}

/** C's "%.Ng" for x >= 0: N significant digits, trailing zeros dropped, exponent form outside [1e-4, 10^N). */
export function cGeneral(x: number, precision: number): string {
  if (x === 0) return '0';
  // The exponent after rounding decides the style, as C specifies.
  let exp = Math.floor(Math.log10(x));
  const rounded = Number(cFixed(x / 10 ** exp, precision - 1));
  if (rounded >= 10) exp++;
  if (exp < -4 || exp >= precision) {
    const mant = cFixed(x / 10 ** exp, precision - 1).replace(/\.?0+$/, '');
    return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const fixed = cFixed(x, Math.max(0, precision - 1 - exp));
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}
