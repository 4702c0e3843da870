/** What a command sees: the bench's scratch directory (also the cwd of argv commands). */
export interface BenchContext {
  readonly dir: string;
}

/** An argv command with extras; a plain argv array is the common case. */
export interface ArgvCommand {
  readonly argv: readonly string[];
  /** File (relative to the bench dir) fed to the command's stdin. */
  readonly stdin?: string;
  readonly env?: Readonly<Record<string, string>>;
}

export type CommandFn = (ctx: BenchContext) => Promise<void> | void;

/** argv array (argv[0] is the program), ArgvCommand, or an async function doing the work in-process. */
export type Command = readonly string[] | ArgvCommand | CommandFn;

export type Side = 'tsemu' | 'qemu';

export interface BenchCase {
  readonly label: string;
  readonly tsemu: Command;
  readonly qemu: Command;
  /** Untimed; runs before every timed run of either side (e.g. delete the convert target). */
  readonly prepare?: (ctx: BenchContext, side: Side) => Promise<void> | void;
  /**
   * Untimed; runs after every timed run. Throw (or use an argv command that
   * exits non-zero) if the run produced the wrong result: a fast wrong answer
   * must not count as a speed-up.
   */
  readonly verify?: readonly string[] | ArgvCommand | ((ctx: BenchContext, side: Side) => Promise<void> | void);
  /** Runs once after the case, even when it failed. */
  readonly teardown?: (ctx: BenchContext) => Promise<void> | void;
  /** Max tsemu/qemu ratio; overrides the bench's goal. `null`: informational, no goal. */
  readonly goal?: number | null;
  /**
   * Marks the process start-up case (e.g. `--version`). Its times are
   * subtracted from the other cases for the "excl. start-up" column.
   */
  readonly startup?: boolean;
  /**
   * Work one run does, read from the tail of the tsemu side's stderr
   * (e.g. guest instructions from `tsemu-arm -d stats`). The table then adds
   * a rate column, millions per second of wall time, for both sides (the
   * same work divided by each side's time). With `command`, the count comes
   * from one extra untimed run of that command instead of the timed runs
   * (when counting costs time the timed runs should not pay).
   */
  readonly work?: { readonly unit: string; count(stderr: string): number | undefined; readonly command?: Command };
}

/** What a ratio compares: wall-clock time, or CPU time (user + sys, all threads, children included). */
export type BenchMetric = 'wall' | 'cpu';

export interface BenchDefinition {
  readonly name: string;
  /** Runs once in a fresh scratch directory before any case (e.g. create images). Untimed. */
  readonly setup?: (dir: string) => Promise<void> | void;
  readonly cases: readonly BenchCase[];
  /** Max tsemu/qemu ratio for every case unless a case says otherwise. */
  readonly goal?: number;
  /** What ratios and goals compare; default 'wall'. Wall time is always reported. */
  readonly metric?: BenchMetric;
}

export const DEFAULT_GOAL = 1.2;

/** Validates and returns the definition; `export default defineBench({...})` in a `*.bench.ts` file. */
export function defineBench(def: BenchDefinition): BenchDefinition {
  if (!def.name) throw new Error('defineBench: name is required');
  if (def.cases.length === 0) throw new Error(`defineBench(${def.name}): no cases`);
  const labels = new Set<string>();
  for (const c of def.cases) {
    if (labels.has(c.label)) throw new Error(`defineBench(${def.name}): duplicate case label "${c.label}"`);
    labels.add(c.label);
  }
  return def;
}

export function isBenchDefinition(value: unknown): value is BenchDefinition {
  const v = value as BenchDefinition | null;
  return typeof v === 'object' && v !== null && typeof v.name === 'string' && Array.isArray(v.cases);
}
