import { availableParallelism, loadavg } from 'node:os';
import { relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeCommand, removedEnv } from './command.js';
import { isBenchDefinition, type BenchDefinition } from './define.js';
import { findBenchFiles } from './discover.js';
import { runBench, type BenchResult } from './runner.js';
import { formatTable } from './table.js';

export interface CliOptions {
  readonly root: string;
  readonly log?: (line: string) => void;
  readonly progress?: (line: string) => void;
}

const USAGE = `usage: pnpm bench [--list] [--json] [--repeats N] [filter...]
  filter   run only benches whose name or file path contains it
  env      BENCH_REPEATS (default 5), BENCH_DIR (scratch location), BENCH_KEEP=1`;

/**
 * `pnpm bench`: discovers *.bench.ts files, runs those matching the filters,
 * prints a table per bench. Exit code 1 if a case errored or nothing matched;
 * an unmet goal is reported, not fatal (benchmarks inform, they do not gate).
 */
export async function benchMain(argv: readonly string[], options: CliOptions): Promise<number> {
  const log = options.log ?? ((line: string) => console.log(line));
  const filters: string[] = [];
  let list = false;
  let json = false;
  let repeats: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--list') list = true;
    else if (arg === '--json') json = true;
    else if (arg === '--repeats') repeats = Number(argv[++i]);
    else if (arg === '--help' || arg === '-h') { log(USAGE); return 0; }
    else if (arg.startsWith('-')) { log(`unknown option ${arg}\n${USAGE}`); return 2; }
    else filters.push(arg);
  }
  if (repeats !== undefined && !(Number.isInteger(repeats) && repeats >= 1)) {
    log('--repeats needs a positive integer');
    return 2;
  }

  const benches = await loadBenches(options.root, log);
  const selected = benches.filter(({ file, def }) =>
    filters.length === 0 || filters.some((f) => def.name.includes(f) || relative(options.root, file).includes(f)));
  if (selected.length === 0) {
    log(`no bench matches ${filters.join(' ') || '(none found)'}`);
    return 1;
  }
  if (list) {
    for (const { file, def } of selected) {
      log(`${def.name}  (${relative(options.root, file)})`);
      for (const c of def.cases) log(`  ${c.label}\n    tsemu: ${describeCommand(c.tsemu)}\n    qemu:  ${describeCommand(c.qemu)}`);
    }
    return 0;
  }

  const results: BenchResult[] = [];
  // Wall times mean little without the load they were taken under.
  log(`host: ${availableParallelism()} CPUs, load average ${loadavg()[0]!.toFixed(2)}, node ${process.version}`);
  const removed = removedEnv();
  if (removed.length > 0) log(`measured commands run without ${removed.join(', ')} (start-up cost only; BENCH_KEEP_ENV=1 keeps it)`);
  log('');
  for (const { def } of selected) {
    const result = await runBench(def, { ...(repeats !== undefined && { repeats }), ...(options.progress && { progress: options.progress }) });
    results.push(result);
    log(formatTable(result));
    log('');
  }
  if (json) log(JSON.stringify(results, null, 2));
  return results.some((r) => r.cases.some((c) => c.error !== undefined)) ? 1 : 0;
}

async function loadBenches(root: string, log: (line: string) => void): Promise<{ file: string; def: BenchDefinition }[]> {
  const out: { file: string; def: BenchDefinition }[] = [];
  for (const file of findBenchFiles(root)) {
    const mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
    if (isBenchDefinition(mod.default)) out.push({ file, def: mod.default });
    else log(`skipping ${relative(root, file)}: no default export from defineBench()`);
  }
  return out;
}
