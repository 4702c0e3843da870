// Sizes as QEMU reads and prints them.
import { BlockError } from '../errors.js';
import { cFixed, cGeneral } from './printf.js';

const SUFFIX_SHIFT: Record<string, number> = { b: 0, k: 10, m: 20, g: 30, t: 40, p: 50, e: 60 };
const HEX_RE = /^0[xX][0-9a-fA-F]+$/;
const DEC_RE = /^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([bBkKmMgGtTpPeE]?)$/;

/**
 * QEMU's qemu_strtosz: decimal (fractions allowed with a suffix) or hex, with an
 * optional B/K/M/G/T/P/E suffix (binary units). `defaultSuffix` applies when none
 * is given ('B' for qemu-img and qemu-io). Throws EINVAL for syntax and negative
 * numbers, ERANGE from 2^63 up (QEMU's int64 limit).
 */
export function parseSize(text: string, defaultSuffix = 'B'): number {
  let value: number;
  let shift = 0;
  if (HEX_RE.test(text)) {
    value = parseInt(text, 16);
  } else {
    const m = DEC_RE.exec(text);
    if (!m) throw new BlockError('EINVAL', `Invalid size '${text}'`);
    shift = SUFFIX_SHIFT[(m[2] || defaultSuffix).toLowerCase()];
    // A fraction only makes sense with a unit above bytes (QEMU rejects "1.5" bytes).
    if (m[1].includes('.') && shift === 0) throw new BlockError('EINVAL', `Invalid size '${text}'`);
    value = Number(m[1]);
  }
  const bytes = Math.floor(value * 2 ** shift);
  if (!Number.isFinite(bytes) || bytes >= 2 ** 63) {
    throw new BlockError('ERANGE', `Size '${text}' is too large`);
  }
  return bytes;
}

const IEC = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/**
 * QEMU's size_to_str (qemu-img info's "virtual size: 64 MiB", "disk size: 460 KiB"):
 * three significant digits, moving to the next unit from 1000 of the current one.
 */
export function sizeToStr(bytes: number): string {
  // QEMU picks the unit from the binary exponent of bytes * 1.024, so 1000 KiB already prints as MiB.
  const exp = bytes > 0 ? Math.floor(Math.log2(bytes * 1.024)) : 0;
  const i = Math.min(Math.max(Math.floor(exp / 10), 0), IEC.length - 1);
  return `${cGeneral(bytes / 2 ** (10 * i), 3)} ${IEC[i]}`;
}

const IO_UNITS: Array<[number, string]> = [
  [2 ** 60, 'EiB'], [2 ** 50, 'PiB'], [2 ** 40, 'TiB'], [2 ** 30, 'GiB'], [2 ** 20, 'MiB'], [2 ** 10, 'KiB'],
];

/**
 * qemu-io's way of printing a byte count ("64 KiB", "1.938 MiB", "32 bytes"):
 * three decimals, with an exact ".000" dropped.
 */
export function formatIoSize(bytes: number): string {
  let value = bytes;
  let unit = 'bytes';
  for (const [scale, name] of IO_UNITS) {
    if (bytes >= scale) {
      value = bytes / scale;
      unit = name;
      break;
    }
  }
  const text = cFixed(value, 3);
  return `${text.endsWith('.000') ? text.slice(0, -4) : text} ${unit}`;
}
