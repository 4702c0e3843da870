import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from './command.js';
import { DEFAULT_GOAL, type BenchCase, type BenchContext, type BenchDefinition, type Side } from './define.js';

export const DEFAULT_REPEATS = 5;
/** Run order within a repeat. */
const SIDES: readonly Side[] = ['tsemu', 'qemu'];

export interface CaseResult {
  readonly label: string;
  /** Every timed run, in the order it ran. */
  readonly samples: { readonly tsemu: readonly number[]; readonly qemu: readonly number[] };
  /** Minimum wall time in ms; undefined if the case failed before any run of that side. */
  readonly tsemuMs?: number;
  readonly qemuMs?: number;
  /** tsemuMs / qemuMs (qemu = 1). */
  readonly ratio?: number;
  readonly goal: number | null;
  /** undefined when there is no goal or no ratio. */
  readonly met?: boolean;
  readonly startup: boolean;
  readonly error?: string;
}

export interface BenchResult {
  readonly name: string;
  readonly repeats: number;
  readonly cases: readonly CaseResult[];
}

export interface RunOptions {
  /** Timed runs per side per case; default BENCH_REPEATS or 5. */
  readonly repeats?: number;
  /** Where the scratch directory is made; default BENCH_DIR or the OS temp dir. */
  readonly baseDir?: string;
  /** Keep the scratch directory (BENCH_KEEP=1). */
  readonly keepDir?: boolean;
  /** Progress lines (one per timed run); default: none. */
  readonly progress?: (line: string) => void;
  /** Injected clock for tests; default performance.now. */
  readonly now?: () => number;
}

/** BENCH_REPEATS as a positive integer, else the default. */
export function repeatsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env['BENCH_REPEATS'];
  if (raw === undefined || raw === '') return DEFAULT_REPEATS;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_REPEATS must be a positive integer, got "${raw}"`);
  return n;
}

/**
 * Runs every case of a bench: for each repeat, tsemu then qemu (interleaved so
 * drift in machine load hits both sides alike), keeping the minimum wall time
 * of each side, which is the least noisy estimate on a shared machine.
 */
export async function runBench(def: BenchDefinition, options: RunOptions = {}): Promise<BenchResult> {
  const repeats = options.repeats ?? repeatsFromEnv();
  const now = options.now ?? (() => performance.now());
  const base = options.baseDir ?? process.env['BENCH_DIR'] ?? tmpdir();
  const keep = options.keepDir ?? process.env['BENCH_KEEP'] === '1';
  const dir = await mkdtemp(join(base, `tsemu-bench-${def.name.replace(/[^\w.-]+/g, '_')}-`));
  const ctx: BenchContext = { dir };
  const cases: CaseResult[] = [];
  try {
    let setupError: string | undefined;
    try {
      await def.setup?.(dir);
    } catch (err) {
      setupError = `setup failed: ${message(err)}`;
    }
    for (const c of def.cases) {
      const goal = c.goal === undefined ? (def.goal ?? DEFAULT_GOAL) : c.goal;
      cases.push(setupError
        ? summarise(c, goal, [], [], setupError)
        : await runCase(c, goal, ctx, repeats, now, options.progress));
    }
  } finally {
    if (!keep) await rm(dir, { recursive: true, force: true });
  }
  return { name: def.name, repeats, cases };
}

async function runCase(
  c: BenchCase,
  goal: number | null,
  ctx: BenchContext,
  repeats: number,
  now: () => number,
  progress: ((line: string) => void) | undefined,
): Promise<CaseResult> {
  const samples: Record<Side, number[]> = { tsemu: [], qemu: [] };
  const errors: Partial<Record<Side, string>> = {};
  // A side that fails is dropped; the other keeps running so its time is still reported.
  for (let r = 0; r < repeats && !(errors.tsemu && errors.qemu); r++) {
    for (const side of SIDES) {
      if (errors[side]) continue;
      try {
        samples[side].push(await timeOne(c, side, ctx, now));
        progress?.(`${c.label}: ${side.padEnd(5)} #${r + 1} ${fmt(samples[side].at(-1)!)} ms`);
      } catch (err) {
        errors[side] = `${side}: ${message(err)}`;
      }
    }
  }
  let error = [errors.tsemu, errors.qemu].filter(Boolean).join('; ') || undefined;
  try {
    await c.teardown?.(ctx);
  } catch (err) {
    error ??= `teardown failed: ${message(err)}`;
  }
  return summarise(c, goal, samples.tsemu, samples.qemu, error);
}

async function timeOne(c: BenchCase, side: Side, ctx: BenchContext, now: () => number): Promise<number> {
  await c.prepare?.(ctx, side);
  const t0 = now();
  await runCommand(c[side], ctx);
  const elapsed = now() - t0;
  if (c.verify) {
    try {
      if (typeof c.verify === 'function') await c.verify(ctx, side);
      else await runCommand(c.verify, ctx);
    } catch (err) {
      throw new Error(`wrong result (verify failed): ${message(err)}`, { cause: err });
    }
  }
  return elapsed;
}

/** Min of each side, ratio and goal verdict. A failed case keeps its samples but gets no verdict. */
export function summarise(
  c: Pick<BenchCase, 'label' | 'startup'>,
  goal: number | null,
  tsemu: readonly number[],
  qemu: readonly number[],
  error?: string,
): CaseResult {
  const tsemuMs = tsemu.length > 0 ? Math.min(...tsemu) : undefined;
  const qemuMs = qemu.length > 0 ? Math.min(...qemu) : undefined;
  const ratio = error === undefined && tsemuMs !== undefined && qemuMs !== undefined && qemuMs > 0
    ? tsemuMs / qemuMs
    : undefined;
  const met = goal === null || ratio === undefined ? undefined : ratio <= goal;
  return {
    label: c.label,
    samples: { tsemu, qemu },
    startup: c.startup ?? false,
    goal,
    ...(tsemuMs !== undefined && { tsemuMs }),
    ...(qemuMs !== undefined && { qemuMs }),
    ...(ratio !== undefined && { ratio }),
    ...(met !== undefined && { met }),
    ...(error !== undefined && { error }),
  };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function fmt(ms: number): string {
  return ms.toFixed(1);
}
