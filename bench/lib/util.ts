// Small helpers shared by the benchmark harness (no dependencies beyond node:*).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file compiles to dist/bench/lib/util.js). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const DIST = join(ROOT, 'dist');
export const CLI = join(DIST, 'src', 'cli', 'main.js');
export const BENCH_DIST = join(DIST, 'bench');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Percentile (0..100) of an ascending-sorted array, nearest-rank. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export interface LatencySummary {
  count: number;
  /** Milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Summary of latencies given in microseconds, reported in milliseconds. */
export function summarizeMicros(values: Float64Array | number[]): LatencySummary {
  const a = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of a) sum += v;
  const ms = (v: number): number => Math.round(v) / 1000;
  return {
    count: a.length,
    p50: ms(percentile(a, 50)),
    p90: ms(percentile(a, 90)),
    p99: ms(percentile(a, 99)),
    max: ms(a.length ? a[a.length - 1]! : NaN),
    mean: ms(a.length ? sum / a.length : NaN),
  };
}

export function round(n: number, digits = 2): number {
  if (!Number.isFinite(n)) return n;
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Minimal `--name value` / `--flag` parser for the bench's child programs. */
export function argMap(argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) out.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) out.set(a.slice(2), argv[++i]!);
    else out.set(a.slice(2), 'true');
  }
  return out;
}

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}
