import type { BenchResult, CaseResult } from './runner.js';

/**
 * Renders a bench result as a plain-text table:
 *   case | tsemu ms | qemu ms | ratio | [excl. start-up] | [wall ratio] | [rate] | goal | met
 * The times and the ratio are of the bench's metric (wall or CPU time). The
 * "excl. start-up" column appears when the bench has a start-up case:
 * (tsemu - tsemu start-up) / (qemu - qemu start-up), to show the cost of the
 * work itself. A CPU-time bench also shows the wall-time ratio, and cases
 * with `work` a rate for each side. The verdict always uses the plain ratio.
 */
export function formatTable(result: BenchResult): string {
  const cpu = result.metric === 'cpu';
  const startup = result.cases.find((c) => c.startup && c.error === undefined);
  const workCase = result.cases.find((c) => c.work !== undefined);
  const rateHeader = workCase ? `M${workCase.work!.unit}/s tsemu / qemu` : undefined;
  const header = [
    'case', cpu ? 'tsemu CPU ms' : 'tsemu ms', cpu ? 'qemu CPU ms' : 'qemu ms', 'ratio',
    ...(startup ? ['excl. start-up'] : []), ...(cpu ? ['wall ratio'] : []), ...(rateHeader ? [rateHeader] : []), 'goal', 'met',
  ];
  const rows = result.cases.map((c) => [
    c.label,
    ms(cpu ? c.tsemuCpuMs : c.tsemuMs),
    ms(cpu ? c.qemuCpuMs : c.qemuMs),
    c.ratio === undefined ? (c.error ? 'error' : '-') : c.ratio.toFixed(2),
    ...(startup ? [netRatio(c, startup, cpu)] : []),
    ...(cpu ? [c.wallRatio === undefined ? '-' : c.wallRatio.toFixed(2)] : []),
    ...(rateHeader ? [rates(c)] : []),
    c.goal === null ? '-' : `<= ${c.goal.toFixed(2)}`,
    c.met === undefined ? '-' : c.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd();
  const what = cpu ? 'min CPU time (user + sys, all threads)' : 'min wall time';
  const out = [
    `${result.name}: ${what} of ${result.repeats} runs each, tsemu and qemu interleaved; ratio = tsemu/qemu (qemu = 1)`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ];
  if (rateHeader) out.push(`M${workCase!.work!.unit}/s: the tsemu run's count, per second of each side's min wall time`);
  const judged = result.cases.filter((c) => c.met !== undefined);
  if (judged.length > 0) out.push(`goal met: ${judged.filter((c) => c.met).length}/${judged.length} cases`);
  for (const c of result.cases) if (c.error) out.push(`error in "${c.label}": ${c.error}`);
  return out.join('\n');
}

function ms(value: number | undefined): string {
  return value === undefined ? '-' : value.toFixed(1);
}

function netRatio(c: CaseResult, startup: CaseResult, cpu: boolean): string {
  if (c.startup || c.ratio === undefined) return '-';
  const t = cpu ? c.tsemuCpuMs! - (startup.tsemuCpuMs ?? 0) : c.tsemuMs! - startup.tsemuMs!;
  const q = cpu ? c.qemuCpuMs! - (startup.qemuCpuMs ?? 0) : c.qemuMs! - startup.qemuMs!;
  return t > 0 && q > 0 ? (t / q).toFixed(2) : '-';
}

function rates(c: CaseResult): string {
  if (c.work === undefined) return '-';
  const q = c.work.qemuRate === undefined ? '-' : c.work.qemuRate.toFixed(0);
  return `${c.work.tsemuRate.toFixed(0)} / ${q}`;
}
