// API server calls are bounded: a hung request must not hang an informer or the status queue.
import { TimeoutError } from '../errors.js';

/** `p`, or a rejection `<what> timed out after <ms> ms` once `ms` have passed (timer unref'd). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
