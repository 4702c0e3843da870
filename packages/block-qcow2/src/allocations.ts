// Qcow2Allocations: guest clusters whose new host clusters are allocated but
// whose L2 entries are not written yet (the data write runs without the
// metadata lock). Anything else that would change those entries waits for
// the allocation to finish, then looks again (QEMU's handle_dependencies).

export class Qcow2Allocation {
  private waiters: Array<() => void> | undefined;
  constructor(readonly first: number, readonly count: number) {}

  /** Resolves when the allocation is linked (or failed). */
  wait(): Promise<void> {
    return new Promise((resolve) => (this.waiters ??= []).push(resolve));
  }

  finish(): void {
    const w = this.waiters;
    this.waiters = undefined;
    if (w) for (const resolve of w) resolve();
  }
}

export class Qcow2Allocations {
  private readonly list: Qcow2Allocation[] = [];

  /** An in-flight allocation overlapping guest clusters [first, first+count). */
  find(first: number, count: number): Qcow2Allocation | undefined {
    const end = first + count;
    for (const a of this.list) if (a.first < end && first < a.first + a.count) return a;
    return undefined;
  }

  add(first: number, count: number): Qcow2Allocation {
    const a = new Qcow2Allocation(first, count);
    this.list.push(a);
    return a;
  }

  remove(a: Qcow2Allocation): void {
    const i = this.list.indexOf(a);
    if (i >= 0) this.list.splice(i, 1);
    a.finish();
  }

  get size(): number {
    return this.list.length;
  }
}
