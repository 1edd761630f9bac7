// A manual clock for the JWKS managers (JwksClock): time only moves when a test says so, and
// scheduled refreshes fire only when the test advances to them. An hour of refresh cycles then
// takes as long as the fetches themselves, and fetch counts are exact (no real-time retries
// sneaking in between two assertions).
import type { JwksClock } from '../../src/authn/jwks/clock.js';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

export class ManualClock implements JwksClock {
  private t: number;
  private seq = 0;
  private timers: Timer[] = [];

  constructor(start = Date.now()) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): () => void {
    const timer = { id: ++this.seq, at: this.t + Math.max(0, ms), fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((x) => x !== timer);
    };
  }

  /** Timers scheduled and not yet fired or cancelled. */
  get pending(): number {
    return this.timers.length;
  }

  /** Delay from now to the earliest pending timer, or undefined. */
  nextDelay(): number | undefined {
    const next = this.earliest();
    return next === undefined ? undefined : next.at - this.t;
  }

  /** Move time forward by `ms`, firing (in due order) every timer that falls due meanwhile. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.earliest();
      if (!next || next.at > end) break;
      this.fire(next);
    }
    this.t = end;
  }

  /** Jump to the earliest pending timer and fire it; returns the time jumped (ms). Throws if none. */
  fireNext(): number {
    const next = this.earliest();
    if (!next) throw new Error('ManualClock: no pending timer');
    const jumped = next.at - this.t;
    this.fire(next);
    return jumped;
  }

  private earliest(): Timer | undefined {
    let best: Timer | undefined;
    for (const x of this.timers) if (!best || x.at < best.at || (x.at === best.at && x.id < best.id)) best = x;
    return best;
  }

  private fire(timer: Timer): void {
    this.timers = this.timers.filter((x) => x !== timer);
    this.t = Math.max(this.t, timer.at);
    timer.fn();
  }
}
