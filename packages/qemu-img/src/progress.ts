// The -p progress line: "    (42.00/100%)\r" on stdout, reprinted when the
// value moves by more than the minimum step, and always at 0 and 100.
import { cFixed } from '@tsemu/block-core';
import type { OutputStream } from './io.js';

export class ProgressMeter {
  private current = 0;
  private lastPrinted = 0;

  constructor(
    private readonly out: OutputStream | undefined,
    private readonly minStep = 1,
  ) {}

  /** Sets the progress to `percent` (0..100). */
  set(percent: number): void {
    // QEMU keeps this in a C float; rounding the same way keeps printed values equal.
    const value = Math.fround(Math.min(percent, 100));
    this.current = value;
    if (value > this.lastPrinted + this.minStep || value < this.lastPrinted - this.minStep || value === 0 || value === 100) {
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
