import { describe, expect, it } from 'vitest';
import { formatTable, summarise, type BenchResult } from '../src/index.js';

const result = (cases: BenchResult['cases']): BenchResult => ({ name: 'demo', repeats: 3, cases });

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
});
