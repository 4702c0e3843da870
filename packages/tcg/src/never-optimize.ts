// Translation-time code is kept out of V8's optimising compiler.
//
// V8 tiers every hot function up to TurboFan on a background thread. For the
// guest's TBs and the dispatcher that pays; for the translator's own big
// functions (decoders, IR builder, optimiser passes, code generator, the IR
// interpreter of cold TBs) it does not: each compile of these large graphs
// takes tens of ms of CPU, more than they would ever save in a program's
// lifetime, and it is most of tsemu-arm's fixed cost per run. They stay in
// V8's baseline code instead (Ignition + Sparkplug). Measured in the README
// (Speed): busybox gzip of 100 KB 0.81 -> 0.59 s CPU.
//
// The means is V8's %NeverOptimizeFunction intrinsic, reached through a tiny
// function compiled while --allow-natives-syntax is on for a moment. The flag
// is switched off right after, so the flag set (and with it the V8 code cache
// of a built app) is what it was. Outside Node, or where V8 refuses (another
// version without the intrinsic), this does nothing.

type AnyFunction = ((...args: never[]) => unknown) | (abstract new (...args: never[]) => unknown);
type Marker = (fn: AnyFunction) => void;

let marker: Marker | null | undefined;

function getMarker(): Marker | null {
  if (marker !== undefined) return marker;
  marker = null;
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const v8 = proc?.getBuiltinModule?.('node:v8') as { setFlagsFromString(flags: string): void } | undefined;
  if (!v8) return marker;
  try {
    v8.setFlagsFromString('--allow-natives-syntax');
    marker = new Function('f', '%NeverOptimizeFunction(f)') as Marker;
  } catch {
    marker = null;
  } finally {
    v8.setFlagsFromString('--no-allow-natives-syntax');
  }
  return marker;
}

/** Never optimise these functions (each also as a class: its constructor and prototype methods). */
export function neverOptimize(...fns: AnyFunction[]): void {
  const mark = getMarker();
  if (!mark) return;
  try {
    for (const fn of fns) {
      mark(fn);
      const proto = (fn as { prototype?: object }).prototype;
      if (!proto) continue;
      for (const key of Object.getOwnPropertyNames(proto)) {
        const value = Object.getOwnPropertyDescriptor(proto, key)?.value;
        if (typeof value === 'function' && value !== fn) mark(value as AnyFunction);
      }
    }
  } catch {
    marker = null; // the intrinsic refused: leave V8 to its defaults from here on
  }
}
