// In-flight write tracking for one node. A read-modify-write (or every write,
// when the driver asks) is "serialising": it must not overlap another write
// to the same aligned blocks, or the RMW could write back stale bytes over
// the other write. Rule: a new request waits for every *earlier* overlapping
// request when either of the two is serialising. Waiting only on earlier
// requests keeps the wait graph acyclic, so this cannot deadlock.

export class TrackedRequest {
  start = 0;
  end = 0;
  serialising = false;
  /** Created only when someone waits, so the common case allocates no promise. */
  private done: Promise<void> | null = null;
  private resolveDone: (() => void) | null = null;

  whenDone(): Promise<void> {
    if (!this.done) this.done = new Promise<void>((resolve) => { this.resolveDone = resolve; });
    return this.done;
  }

  finish(): void {
    if (this.resolveDone) this.resolveDone();
    this.done = null;
    this.resolveDone = null;
  }
}

export class RequestTracker {
  private readonly inFlight: TrackedRequest[] = [];
  private readonly spare: TrackedRequest[] = [];

  /** Registers [start, end) and waits until no earlier conflicting request is in flight. */
  async begin(start: number, end: number, serialising: boolean): Promise<TrackedRequest> {
    const req = this.spare.pop() ?? new TrackedRequest();
    req.start = start;
    req.end = end;
    req.serialising = serialising;
    // Snapshot the conflicts before registering: later arrivals wait for us, not we for them.
    // Take the promises now: a finished request object is recycled for a later one.
    let conflicts: Promise<void>[] | null = null;
    for (const other of this.inFlight) {
      if ((serialising || other.serialising) && other.start < end && start < other.end) {
        (conflicts ??= []).push(other.whenDone());
      }
    }
    this.inFlight.push(req);
    if (conflicts) await Promise.all(conflicts);
    return req;
  }

  end(req: TrackedRequest): void {
    const i = this.inFlight.indexOf(req);
    if (i >= 0) this.inFlight.splice(i, 1);
    req.finish();
    if (this.spare.length < 64) this.spare.push(req);
  }

  get size(): number {
    return this.inFlight.length;
  }
}
