import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from './command.js';
import { childrenCpuMs, selfCpuMs } from './cpu-time.js';
import { DEFAULT_GOAL, type BenchCase, type BenchContext, type BenchDefinition, type BenchMetric, type Command, type Side } from './define.js';

export const DEFAULT_REPEATS = 5;
/** Run order within a repeat. */
const SIDES: readonly Side[] = ['tsemu', 'qemu'];

export interface Samples {
  readonly tsemu: readonly number[];
  readonly qemu: readonly number[];
}

export interface CaseResult {
  readonly label: string;
  /** Wall time of every timed run in ms, in the order it ran. */
  readonly samples: Samples;
  /** CPU time (user + sys) of the same runs in ms. */
  readonly cpuSamples: Samples;
  /** Minimum wall time in ms; undefined if the case failed before any run of that side. */
  readonly tsemuMs?: number;
  readonly qemuMs?: number;
  /** Minimum CPU time in ms. */
  readonly tsemuCpuMs?: number;
  readonly qemuCpuMs?: number;
  /** The bench's metric: tsemu / qemu of wall or of CPU time (qemu = 1). */
  readonly ratio?: number;
  /** Both ratios, whatever the metric. */
  readonly wallRatio?: number;
  readonly cpuRatio?: number;
  /** BenchCase.work: the count and both sides' rates (millions per second of minimum wall time). */
  readonly work?: { readonly unit: string; readonly count: number; readonly tsemuRate: number; readonly qemuRate?: number };
  readonly goal: number | null;
  /** undefined when there is no goal or no ratio. */
  readonly met?: boolean;
  readonly startup: boolean;
  readonly error?: string;
}

export interface BenchResult {
  readonly name: string;
  readonly repeats: number;
  readonly metric: BenchMetric;
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
  /**
   * Injected CPU clock for tests, in ms: 'children' for argv commands (the
   * harness's waited-for children), 'self' for in-process functions.
   */
  readonly cpuNow?: (whose: 'children' | 'self') => number;
}

interface Clocks {
  readonly now: () => number;
  readonly cpuNow: (whose: 'children' | 'self') => number;
}

interface Run {
  readonly wall: number;
  readonly cpu: number;
  readonly stderr: string;
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
  const clocks: Clocks = {
    now: options.now ?? (() => performance.now()),
    cpuNow: options.cpuNow ?? ((whose) => (whose === 'self' ? selfCpuMs() : childrenCpuMs())),
  };
  const metric = def.metric ?? 'wall';
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
        ? summarise(c, goal, [], [], setupError, { metric })
        : await runCase(c, goal, metric, ctx, repeats, clocks, options.progress));
    }
  } finally {
    if (!keep) await rm(dir, { recursive: true, force: true });
  }
  return { name: def.name, repeats, metric, cases };
}

async function runCase(
  c: BenchCase,
  goal: number | null,
  metric: BenchMetric,
  ctx: BenchContext,
  repeats: number,
  clocks: Clocks,
  progress: ((line: string) => void) | undefined,
): Promise<CaseResult> {
  const samples: Record<Side, number[]> = { tsemu: [], qemu: [] };
  const cpu: Record<Side, number[]> = { tsemu: [], qemu: [] };
  const errors: Partial<Record<Side, string>> = {};
  let workCount: number | undefined;
  // A side that fails is dropped; the other keeps running so its time is still reported.
  for (let r = 0; r < repeats && !(errors.tsemu && errors.qemu); r++) {
    for (const side of SIDES) {
      if (errors[side]) continue;
      try {
        const run = await timeOne(c, side, ctx, clocks);
        samples[side].push(run.wall);
        cpu[side].push(run.cpu);
        if (side === 'tsemu' && c.work && c.work.command === undefined) workCount ??= c.work.count(run.stderr);
        const shownCpu = metric === 'cpu' ? `, ${fmt(run.cpu)} ms CPU` : '';
        progress?.(`${c.label}: ${side.padEnd(5)} #${r + 1} ${fmt(run.wall)} ms${shownCpu}`);
      } catch (err) {
        errors[side] = `${side}: ${message(err)}`;
      }
    }
  }
  if (c.work?.command !== undefined && !errors.tsemu) {
    try {
      await c.prepare?.(ctx, 'tsemu');
      workCount = c.work.count(await runCommand(c.work.command, ctx));
    } catch (err) {
      errors.tsemu = `tsemu: counting run: ${message(err)}`;
    }
  }
  let error = [errors.tsemu, errors.qemu].filter(Boolean).join('; ') || undefined;
  try {
    await c.teardown?.(ctx);
  } catch (err) {
    error ??= `teardown failed: ${message(err)}`;
  }
  const work = c.work && workCount !== undefined ? { unit: c.work.unit, count: workCount } : undefined;
  return summarise(c, goal, samples.tsemu, samples.qemu, error, { metric, cpu, ...(work && { work }) });
}

async function timeOne(c: BenchCase, side: Side, ctx: BenchContext, clocks: Clocks): Promise<Run> {
  await c.prepare?.(ctx, side);
  const cmd: Command = c[side];
  const whose = typeof cmd === 'function' ? 'self' : 'children';
  const cpu0 = clocks.cpuNow(whose);
  const t0 = clocks.now();
  const stderr = await runCommand(cmd, ctx);
  const wall = clocks.now() - t0;
  const cpu = clocks.cpuNow(whose) - cpu0;
  if (c.verify) {
    try {
      if (typeof c.verify === 'function') await c.verify(ctx, side);
      else await runCommand(c.verify, ctx);
    } catch (err) {
      throw new Error(`wrong result (verify failed): ${message(err)}`, { cause: err });
    }
  }
  return { wall, cpu, stderr };
}

export interface SummaryExtras {
  readonly metric?: BenchMetric;
  /** CPU times of the runs; wall times stand in when absent. */
  readonly cpu?: Samples;
  readonly work?: { readonly unit: string; readonly count: number };
}

/** Min of each side, ratios and goal verdict. A failed case keeps its samples but gets no verdict. */
export function summarise(
  c: Pick<BenchCase, 'label' | 'startup'>,
  goal: number | null,
  tsemu: readonly number[],
  qemu: readonly number[],
  error?: string,
  extras: SummaryExtras = {},
): CaseResult {
  const cpuSamples = extras.cpu ?? { tsemu: [], qemu: [] };
  const tsemuMs = min(tsemu);
  const qemuMs = min(qemu);
  const tsemuCpuMs = min(cpuSamples.tsemu);
  const qemuCpuMs = min(cpuSamples.qemu);
  const wallRatio = error === undefined ? quotient(tsemuMs, qemuMs) : undefined;
  const cpuRatio = error === undefined ? quotient(tsemuCpuMs, qemuCpuMs) : undefined;
  const ratio = extras.metric === 'cpu' ? cpuRatio : wallRatio;
  const met = goal === null || ratio === undefined ? undefined : ratio <= goal;
  const w = extras.work;
  const work = w !== undefined && tsemuMs !== undefined && tsemuMs > 0
    ? { ...w, tsemuRate: w.count / tsemuMs / 1000, ...(qemuMs !== undefined && qemuMs > 0 && { qemuRate: w.count / qemuMs / 1000 }) }
    : undefined;
  return {
    label: c.label,
    samples: { tsemu, qemu },
    cpuSamples,
    startup: c.startup ?? false,
    goal,
    ...(tsemuMs !== undefined && { tsemuMs }),
    ...(qemuMs !== undefined && { qemuMs }),
    ...(tsemuCpuMs !== undefined && { tsemuCpuMs }),
    ...(qemuCpuMs !== undefined && { qemuCpuMs }),
    ...(ratio !== undefined && { ratio }),
    ...(wallRatio !== undefined && { wallRatio }),
    ...(cpuRatio !== undefined && { cpuRatio }),
    ...(work !== undefined && { work }),
    ...(met !== undefined && { met }),
    ...(error !== undefined && { error }),
  };
}

function min(values: readonly number[]): number | undefined {
  return values.length > 0 ? Math.min(...values) : undefined;
}

function quotient(a: number | undefined, b: number | undefined): number | undefined {
  return a !== undefined && b !== undefined && b > 0 ? a / b : undefined;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function fmt(ms: number): string {
  return ms.toFixed(1);
}
