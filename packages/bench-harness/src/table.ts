import type { BenchResult, CaseResult } from './runner.js';

/**
 * Renders a bench result as a plain-text table:
 *   case | tsemu ms | qemu ms | ratio | [excl. start-up] | goal | met
 * The "excl. start-up" column appears when the bench has a start-up case:
 * (tsemu - tsemu start-up) / (qemu - qemu start-up), to show the cost of the
 * work itself. The verdict always uses the plain ratio.
 */
export function formatTable(result: BenchResult): string {
  const startup = result.cases.find((c) => c.startup && c.error === undefined);
  const header = ['case', 'tsemu ms', 'qemu ms', 'ratio', ...(startup ? ['excl. start-up'] : []), 'goal', 'met'];
  const rows = result.cases.map((c) => [
    c.label,
    ms(c.tsemuMs),
    ms(c.qemuMs),
    c.ratio === undefined ? (c.error ? 'error' : '-') : c.ratio.toFixed(2),
    ...(startup ? [netRatio(c, startup)] : []),
    c.goal === null ? '-' : `<= ${c.goal.toFixed(2)}`,
    c.met === undefined ? '-' : c.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd();
  const out = [
    `${result.name}: min wall time of ${result.repeats} runs each, tsemu and qemu interleaved; ratio = tsemu/qemu (qemu = 1)`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ];
  const judged = result.cases.filter((c) => c.met !== undefined);
  if (judged.length > 0) out.push(`goal met: ${judged.filter((c) => c.met).length}/${judged.length} cases`);
  for (const c of result.cases) if (c.error) out.push(`error in "${c.label}": ${c.error}`);
  return out.join('\n');
}

function ms(value: number | undefined): string {
  return value === undefined ? '-' : value.toFixed(1);
}

function netRatio(c: CaseResult, startup: CaseResult): string {
  if (c.startup || c.ratio === undefined) return '-';
  const t = c.tsemuMs! - startup.tsemuMs!;
  const q = c.qemuMs! - startup.qemuMs!;
  return t > 0 && q > 0 ? (t / q).toFixed(2) : '-';
}
