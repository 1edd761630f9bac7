// The manager's time source, injectable so tests can run an hour of refresh cycles in milliseconds.

/** What the manager needs from time: a reading and a one-shot timer. */
export interface JwksClock {
  now(): number;
  /** Run `fn` once after `ms`; returns a cancel function. Must not keep the process alive. */
  setTimer(fn: () => void, ms: number): () => void;
}

/** Real time; timers are unref'd so an idle manager never holds the process open. */
export const REAL_CLOCK: JwksClock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};
