// Pre-bound series for the two metrics every Check touches (zt_authz_decisions_total and
// zt_authz_check_duration_seconds), so the request path does no label lookup.
//
// prom-client's `inc(labels)` / `observe(labels, v)` validate the label names and build the
// series key string on every call, and its `labels(...)` children only bind the same call, so
// they save nothing. Here a series is looked up once by its label values (nested maps of the
// interned strings) and then:
//  - a counter series keeps a pending count the request path adds to; the counter's `collect`
//    hook (run by prom-client before every read: /metrics, the workers' aggregation) folds it in
//    through the public `inc`, so every read sees exactly the counts prom-client would hold;
//  - a histogram series adds to prom-client's own record of that series (the object
//    `observe` itself updates: bucket counts, sum, count). That record is prom-client's
//    internal state, so it is checked for the expected shape when found and looked up again
//    when the histogram is reset or the series removed; should it ever not look as expected,
//    the child calls the public `observe` instead.
// test/unit/observe/metric-children.test.ts compares the exposition with plain prom-client.
import type { Counter, Histogram } from 'prom-client';

type DecisionLabels = { decision: string; reason: string; policy: string };

interface PendingSeries {
  readonly labels: DecisionLabels;
  pending: number;
}

/** zt_authz_decisions_total by (decision, reason, policy), counted without a label lookup. */
export class DecisionCounts {
  private readonly series = new Map<string, Map<string, Map<string, PendingSeries>>>();
  private readonly all: PendingSeries[] = [];

  constructor(private readonly counter: Counter<'decision' | 'reason' | 'policy'>) {}

  inc(decision: string, reason: string, policy: string): void {
    let byReason = this.series.get(decision);
    if (!byReason) this.series.set(decision, (byReason = new Map<string, Map<string, PendingSeries>>()));
    let byPolicy = byReason.get(reason);
    if (!byPolicy) byReason.set(reason, (byPolicy = new Map<string, PendingSeries>()));
    let s = byPolicy.get(policy);
    if (!s) {
      s = { labels: { decision, reason, policy }, pending: 0 };
      byPolicy.set(policy, s);
      this.all.push(s);
    }
    s.pending++;
  }

  /** The counter's collect hook: pending counts into prom-client before it is read. */
  flush(): void {
    for (const s of this.all) {
      if (s.pending === 0) continue;
      const n = s.pending;
      s.pending = 0;
      this.counter.inc(s.labels, n);
    }
  }
}

/** prom-client's record of one histogram series (lib/histogram.js createBaseValues). */
interface HistogramRecord {
  labels: Record<string, string>;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/** One series of a histogram with a single label, observed without a label lookup. */
export class HistogramSeries {
  private readonly labels: Record<string, string>;
  private map: Record<string, HistogramRecord> | undefined;
  private key = '';
  private record: HistogramRecord | undefined;

  constructor(
    private readonly histogram: Histogram,
    label: string,
    value: string,
    private readonly upperBounds: readonly number[],
  ) {
    this.labels = { [label]: value };
  }

  observe(seconds: number): void {
    const r = this.current();
    if (!r || !Number.isFinite(seconds)) return void this.histogram.observe(this.labels, seconds);
    // prom-client's findBound: the first upper bound >= the value; beyond the last, only sum and count.
    for (const b of this.upperBounds) {
      if (seconds <= b) {
        r.bucketValues[b] = r.bucketValues[b]! + 1;
        break;
      }
    }
    r.sum += seconds;
    r.count += 1;
  }

  /** prom-client's record of this series, found again after a reset or removal; undefined if unrecognised. */
  private current(): HistogramRecord | undefined {
    const map = (this.histogram as unknown as { hashMap?: Record<string, HistogramRecord> }).hashMap;
    if (map && map === this.map && map[this.key] === this.record) return this.record;
    this.map = map;
    this.record = undefined;
    if (!map || typeof map !== 'object') return undefined;
    const name = Object.keys(this.labels)[0]!;
    const find = (): string | undefined =>
      Object.keys(map).find((k) => map[k]?.labels?.[name] === this.labels[name] && Object.keys(map[k]!.labels).length === 1);
    let key = find();
    if (key === undefined) {
      this.histogram.zero(this.labels);
      key = find();
    }
    const r = key === undefined ? undefined : map[key];
    if (!r || typeof r.sum !== 'number' || typeof r.count !== 'number' || typeof r.bucketValues !== 'object') return undefined;
    if (!this.upperBounds.every((b) => typeof r.bucketValues[b] === 'number')) return undefined;
    this.key = key!;
    this.record = r;
    return r;
  }
}
