// cFixed against an exact reference: the double's value as a BigInt fraction,
// rounded half-to-even as glibc's printf does. Seeded; FORMAT_SEED=<n> replays.
import { describe, expect, it } from 'vitest';
import { cFixed, timestr } from '../src/format.js';

const seed = Number(process.env.FORMAT_SEED ?? Date.now() % 1_000_000);
console.log(`format-exact: FORMAT_SEED=${seed}`);

function prng(s: number): () => number {
  let x = s >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 2 ** 32;
  };
}

/** "%.{d}f" of a finite x >= 0, exactly: x = mant * 2^e, scaled by 10^d, rounded half to even. */
function exactFixed(x: number, d: number): string {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  if (biased !== 0) mant |= 1n << 52n;
  const e = (biased === 0 ? 1 : biased) - 1075;
  let num = mant * 10n ** BigInt(d);
  let den = 1n;
  if (e >= 0) num <<= BigInt(e);
  else den <<= BigInt(-e);
  let q = num / den;
  const r2 = (num % den) * 2n;
  if (r2 > den || (r2 === den && (q & 1n) === 1n)) q++;
  const s = q.toString().padStart(d + 1, '0');
  return d === 0 ? s : `${s.slice(0, -d)}.${s.slice(-d)}`;
}

describe(`cFixed is exact (FORMAT_SEED=${seed})`, () => {
  it('matches the exact rounding on report-like values, ties and near-ties', () => {
    const rand = prng(seed);
    for (let i = 0; i < 20000; i++) {
      const d = [0, 2, 3, 4, 6][i % 5]!;
      let x: number;
      switch (i % 4) {
        case 0: x = 1 / (1e-7 + rand() * 1e-3); break; // ops/sec
        case 1: x = 4096 / (1e-7 + rand() * 1e-2) / 2 ** 20; break; // MiB/sec
        case 2: x = Math.floor(rand() * 1e6) / 2 ** (1 + Math.floor(rand() * 12)); break; // binary fractions: exact ties
        default: x = (Math.floor(rand() * 1e7) + 0.5) / 10 ** d; break; // decimal near-ties
      }
      expect(cFixed(x, d), `cFixed(${x}, ${d})`).toBe(exactFixed(x, d));
    }
  });

  it('timestr takes nanoseconds as a number or a bigint alike', () => {
    const rand = prng(seed + 1);
    for (let i = 0; i < 2000; i++) {
      const ns = Math.floor(rand() * 2 ** (10 + (i % 33)));
      expect(timestr(ns), `${ns}`).toBe(timestr(BigInt(ns)));
      expect(timestr(ns, true), `${ns}`).toBe(timestr(BigInt(ns), true));
    }
  });
});
