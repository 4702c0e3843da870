import { describe, expect, it } from 'vitest';
import { formatTable, summarise, type BenchResult } from '../src/index.js';

const result = (cases: BenchResult['cases'], metric: BenchResult['metric'] = 'wall'): BenchResult => ({ name: 'demo', repeats: 3, metric, cases });

describe('summarise', () => {
  it('takes the minimum of each side and the ratio tsemu/qemu', () => {
    const c = summarise({ label: 'x' }, 1.2, [30, 11, 20], [10, 9, 12]);
    expect(c.tsemuMs).toBe(11);
    expect(c.qemuMs).toBe(9);
    expect(c.ratio).toBeCloseTo(11 / 9);
    expect(c.met).toBe(false);
    expect(summarise({ label: 'y' }, 1.2, [10], [9]).met).toBe(true);
  });

  it('gives no verdict without a goal or after an error', () => {
    expect(summarise({ label: 'x' }, null, [10], [5]).met).toBeUndefined();
    const failed = summarise({ label: 'x' }, 1.2, [10], [], 'qemu: boom');
    expect(failed.ratio).toBeUndefined();
    expect(failed.met).toBeUndefined();
    expect(failed.tsemuMs).toBe(10);
  });
});

describe('summarise with CPU times', () => {
  it('judges the CPU ratio under the cpu metric and keeps both ratios', () => {
    const cpu = { tsemu: [400, 350], qemu: [100, 120] };
    const c = summarise({ label: 'x' }, 3, [200, 210], [100, 101], undefined, { metric: 'cpu', cpu });
    expect(c.tsemuCpuMs).toBe(350);
    expect(c.qemuCpuMs).toBe(100);
    expect(c.cpuRatio).toBe(3.5);
    expect(c.wallRatio).toBe(2);
    expect(c.ratio).toBe(3.5);
    expect(c.met).toBe(false);
    const wall = summarise({ label: 'x' }, 3, [200, 210], [100, 101], undefined, { metric: 'wall', cpu });
    expect(wall.ratio).toBe(2);
    expect(wall.met).toBe(true);
  });

  it('gives no CPU ratio when the qemu side used no measurable CPU', () => {
    const c = summarise({ label: 's', startup: true }, null, [30], [5], undefined, { metric: 'cpu', cpu: { tsemu: [20], qemu: [0] } });
    expect(c.cpuRatio).toBeUndefined();
    expect(c.ratio).toBeUndefined();
  });

  it('turns a work count into rates for both sides', () => {
    const c = summarise({ label: 'w' }, null, [2000], [500], undefined, { work: { unit: 'I', count: 1e9 } });
    expect(c.work).toEqual({ unit: 'I', count: 1e9, tsemuRate: 500, qemuRate: 2000 });
  });
});

describe('formatTable', () => {
  it('prints aligned columns, the goal and whether it was met', () => {
    const text = formatTable(result([
      summarise({ label: 'seq write' }, 1.2, [110], [100]),
      summarise({ label: 'rand read 4k' }, 1.2, [300], [100]),
    ]));
    expect(text).toBe([
      'demo: min wall time of 3 runs each, tsemu and qemu interleaved; ratio = tsemu/qemu (qemu = 1)',
      'case          tsemu ms  qemu ms  ratio     goal  met',
      '------------  --------  -------  -----  -------  ---',
      'seq write        110.0    100.0   1.10  <= 1.20  yes',
      'rand read 4k     300.0    100.0   3.00  <= 1.20   NO',
      'goal met: 1/2 cases',
    ].join('\n'));
  });

  it('adds an excl. start-up column when there is a start-up case', () => {
    const text = formatTable(result([
      summarise({ label: 'start-up', startup: true }, null, [250], [5]),
      summarise({ label: 'work' }, 1.2, [1250], [1005]),
    ]));
    const lines = text.split('\n');
    expect(lines[1]).toMatch(/ratio\s+excl\. start-up\s+goal\s+met$/);
    expect(lines[3]).toMatch(/^start-up\s+250\.0\s+5\.0\s+50\.00\s+-\s+-\s+-$/);
    expect(lines[4]).toMatch(/^work\s+1250\.0\s+1005\.0\s+1\.24\s+1\.00\s+<= 1\.20\s+NO$/);
  });

  it('marks failed cases and lists their errors', () => {
    const text = formatTable(result([summarise({ label: 'broken' }, 1.2, [], [], 'tsemu: exited with code 1')]));
    expect(text).toContain('broken         -        -  error');
    expect(text).toContain('error in "broken": tsemu: exited with code 1');
    expect(text).not.toContain('goal met');
  });

  it('shows CPU times, the wall ratio and rates for a cpu bench', () => {
    const extras = (t: number[], q: number[]) => ({ metric: 'cpu' as const, cpu: { tsemu: t, qemu: q } });
    const text = formatTable(result([
      summarise({ label: 'start-up', startup: true }, null, [40], [10], undefined, extras([30], [10])),
      summarise({ label: 'kernel' }, 3, [2000], [1000], undefined, { ...extras([3030], [1010]), work: { unit: 'I', count: 1e9 } }),
    ], 'cpu'));
    const lines = text.split('\n');
    expect(lines[0]).toContain('min CPU time (user + sys, all threads) of 3 runs');
    expect(lines[1]).toMatch(/^case\s+tsemu CPU ms\s+qemu CPU ms\s+ratio\s+excl\. start-up\s+wall ratio\s+MI\/s tsemu \/ qemu\s+goal\s+met$/);
    expect(lines[4]).toMatch(/^kernel\s+3030\.0\s+1010\.0\s+3\.00\s+3\.00\s+2\.00\s+500 \/ 1000\s+<= 3\.00\s+yes$/);
    expect(text).toContain("MI/s: the tsemu run's count, per second of each side's min wall time");
  });
});
