// V8 heap sizing for the long-running commands (serve, its workers, demo).
//
// V8 grows the old generation by a dynamic factor of up to 4× the live size before the next
// full GC, and a process that just verified a burst of tokens is typically left with hundreds of
// MB of heap it never returns: the bench run with 100k cached tokens and 10,000 policies
// measured 480 MB RSS for ~110 MB of live data, and up to 2.3 GB in an in-process probe. A
// fixed growth step keeps RSS within a small multiple of the live set (probe: 190 MB at 20 %)
// for the cost of more frequent full GCs. 50 %, not 20 %: each full GC pauses the event loop
// for 25-40 ms on the bench machine, and the soak (70 % of capacity) saw fewer stalls near its
// 50 ms limit with the larger step.
// `ZT_AUTHZ_HEAP_GROWING_PERCENT` overrides it (0: V8's default heuristics).
import { setFlagsFromString } from 'node:v8';
import { InvalidArgumentError } from '../errors.js';

export const DEFAULT_HEAP_GROWING_PERCENT = 50;

/** Apply the heap growth step; returns the percent in effect (0 = V8 default). */
export function tuneHeap(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.ZT_AUTHZ_HEAP_GROWING_PERCENT;
  const percent = raw === undefined || raw === '' ? DEFAULT_HEAP_GROWING_PERCENT : Number(raw);
  if (!Number.isInteger(percent) || percent < 0 || percent > 1000) {
    throw new InvalidArgumentError(`ZT_AUTHZ_HEAP_GROWING_PERCENT must be an integer 0-1000, got "${raw}"`);
  }
  // Command-line V8 flags (node --heap-growing-percent=N, NODE_OPTIONS) win over ours.
  if (
    percent > 0 &&
    !process.execArgv.some((a) => a.startsWith('--heap-growing-percent')) &&
    !(env.NODE_OPTIONS ?? '').includes('--heap-growing-percent')
  ) {
    setFlagsFromString(`--heap-growing-percent=${percent}`);
    return percent;
  }
  return 0;
}
