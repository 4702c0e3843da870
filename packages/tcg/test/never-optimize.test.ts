// neverOptimize keeps translation-time functions out of TurboFan through V8's
// %NeverOptimizeFunction, and must leave V8's flags as they were: a built
// app's code cache is checked against them.
import { setFlagsFromString } from 'node:v8';
import { Script } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { neverOptimize } from '@tsemu/tcg';

/** V8's OptimizationStatus bit for "optimised code attached". */
const OPTIMIZED = 1 << 4;

function optimizationStatus(fn: unknown): number {
  setFlagsFromString('--allow-natives-syntax');
  try {
    return (new Function('f', 'return %GetOptimizationStatus(f)') as (f: unknown) => number)(fn);
  } finally {
    setFlagsFromString('--no-allow-natives-syntax');
  }
}

/** Calls each function until `control` has been optimised (V8 compiles in the background), at most 10 s. */
function runHot(control: (x: number) => number, others: ((x: number) => number)[]): number {
  let sum = 0;
  const until = Date.now() + 10_000;
  for (let round = 0; Date.now() < until; round++) {
    for (let i = 0; i < 100_000; i++) {
      sum = (sum + control(i)) | 0;
      for (const f of others) sum = (sum + f(i)) | 0;
    }
    if (optimizationStatus(control) & OPTIMIZED) break;
  }
  return sum;
}

describe('neverOptimize', () => {
  it('keeps functions, and a class with its prototype methods, in baseline code while unmarked ones get optimised', () => {
    const marked = (x: number): number => (x * 3 + 1) | 0;
    const control = (x: number): number => (x * 3 + 2) | 0;
    class Pass {
      run(x: number): number { return (x * 5 + 1) | 0; }
    }
    const pass = new Pass();
    const viaClass = (x: number): number => pass.run(x);
    // runHot itself stays in baseline code too, so no optimised caller inlines `control`.
    neverOptimize(marked, Pass, viaClass, runHot);
    runHot(control, [marked, viaClass]);
    expect(optimizationStatus(control) & OPTIMIZED).toBe(OPTIMIZED);
    expect(optimizationStatus(marked) & OPTIMIZED).toBe(0);
    expect(optimizationStatus(Pass.prototype.run) & OPTIMIZED).toBe(0);
    // Marked functions still compute.
    expect(marked(2) + pass.run(2)).toBe(18);
  });

  it('switches natives syntax off again', () => {
    neverOptimize(() => 0);
    // A source never compiled before: V8 caches compiled function sources.
    expect(() => new Function('f', 'return %IsBeingInterpreted(f) /* after neverOptimize */')).toThrow(SyntaxError);
  });

  it('leaves the flags a code cache is checked against as they were', () => {
    const source = `(function tsemuNeverOptimizeProbe() { return ${Date.now()}; })`;
    const data = new Script(source).createCachedData();
    neverOptimize(() => 1);
    expect(new Script(source, { cachedData: data }).cachedDataRejected).toBe(false);
  });
});
