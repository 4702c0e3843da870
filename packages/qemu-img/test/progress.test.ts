import { describe, expect, it } from 'vitest';
import { ProgressMeter } from '../src/progress.js';

function capture(): { text: string; write(s: string): void } {
  return { text: '', write(s: string) { this.text += s; } };
}

describe('ProgressMeter', () => {
  it('prints 0, steps larger than the minimum, and 100 (twice at the end, as qemu-img does)', () => {
    const out = capture();
    const p = new ProgressMeter(out);
    p.set(0);
    p.set(0.5); // below the 1% step: silent
    p.set(2);
    p.set(66);
    p.set(100);
    p.set(100);
    p.end();
    expect(out.text).toBe('    (0.00/100%)\r    (2.00/100%)\r    (66.00/100%)\r    (100.00/100%)\r    (100.00/100%)\r\n');
  });

  it('caps added steps at 100, still printing each one there (rebase over-counts as qemu-img does)', () => {
    const out = capture();
    const p = new ProgressMeter(out, 2);
    p.set(0);
    for (let i = 0; i < 3; i++) p.add(50);
    expect(p.value).toBe(100);
    expect(out.text).toBe('    (0.00/100%)\r    (50.00/100%)\r    (100.00/100%)\r    (100.00/100%)\r');
  });

  it('rounds exact ties to even like printf', () => {
    const out = capture();
    const p = new ProgressMeter(out);
    p.set(3.125);
    expect(out.text).toBe('    (3.12/100%)\r');
  });
});
