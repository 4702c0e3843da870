// The -p progress line: "    (42.00/100%)\r" on stdout. qemu-img keeps the
// value in a C float and reprints it when it moved by more than the
// command's minimum step (convert, commit, amend: 1; rebase, compare: 2),
// and always at exactly 0 or 100; the value is remembered even when nothing
// is printed, so small steps add up. Commands either set the value (`set`,
// QEMU's max = 0) or add a delta to it (`add`, max = 100: rebase adds
// 100 / chunks per chunk it had to look at).
import { cFixed } from '@tsemu/block-core';
import type { OutputStream } from './io.js';

const f = Math.fround;

export class ProgressMeter {
  private current = 0;
  private lastPrinted = 0;
  private readonly minStep: number;

  constructor(
    private readonly out: OutputStream | undefined,
    minStep = 1,
  ) {
    this.minStep = f(minStep);
  }

  /** Sets the progress to `percent` (0..100). */
  set(percent: number): void {
    this.update(f(percent));
  }

  /** Adds `delta` percent (QEMU computes delta / 100 * 100 in float, which can round). */
  add(delta: number): void {
    this.update(f(this.current + f(f(f(delta) / 100) * 100)));
  }

  private update(value: number): void {
    // qemu-img caps the sum at 100 (rebase's steps can add up past it).
    if (value > 100) value = 100;
    this.current = value;
    if (value > f(this.lastPrinted + this.minStep) || value < f(this.lastPrinted - this.minStep) || value === 0 || value === 100) {
      this.lastPrinted = value;
      this.out?.write(`    (${cFixed(value, 2)}/100%)\r`);
    }
  }

  get value(): number {
    return this.current;
  }

  /** Ends the progress line. */
  end(): void {
    this.out?.write('\n');
  }
}
