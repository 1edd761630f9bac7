// Load shedding: a bound on Checks being decided at once, shared by the gRPC and HTTP listeners.
//
// A Check holds its slot from arrival to response. On the cached fast path that is a few
// microtasks (decide() never waits on I/O), so the bound only bites when Checks pile up behind
// something slow: keys still loading, an unknown-kid refetch, a struggling IdP. Past the bound
// a Check is refused at once instead of queueing without limit (memory, and answers arriving
// after Envoy's 200 ms timeout anyway): gRPC answers RESOURCE_EXHAUSTED (an ext_authz *error*:
// status_on_error, 403 by default), HTTP answers 429 (a deny, see src/transport/http/server.ts).
//
// Hot path cost: one compare and one increment on enter, one decrement on leave; no allocation.

export class InFlightGate {
  private n = 0;
  private max: number;

  /** `onShed` runs for each refused Check (metrics, rate-limited log); never on the fast path. */
  constructor(
    maxInFlight: number,
    private readonly onShed: (transport: string) => void,
  ) {
    this.max = InFlightGate.bound(maxInFlight);
  }

  /** 0 means unlimited. */
  private static bound(maxInFlight: number): number {
    return maxInFlight > 0 ? maxInFlight : Number.POSITIVE_INFINITY;
  }

  /** Applied by config reloads (limits.maxInFlight); Checks already admitted keep their slot. */
  setMax(maxInFlight: number): void {
    this.max = InFlightGate.bound(maxInFlight);
  }

  get limit(): number {
    return this.max;
  }

  /** Checks holding a slot now. */
  get inFlight(): number {
    return this.n;
  }

  /** Take a slot; false (and counted as shed) when all are taken. Pair every true with leave(). */
  enter(transport: string): boolean {
    if (this.n >= this.max) {
      this.onShed(transport);
      return false;
    }
    this.n++;
    return true;
  }

  leave(): void {
    this.n--;
  }
}
