// The pre-bound series (observe/metric-children.ts) must expose exactly what prom-client's own
// inc/observe would: same series, labels, counts, buckets and sums, read at any time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '../../../src/observe/metrics.js';

const NAMES = ['zt_authz_decisions_total', 'zt_authz_check_duration_seconds'];

async function exposition(m: Metrics): Promise<string> {
  const out: string[] = [];
  for (const n of NAMES) out.push(await m.registry.getSingleMetricAsString(n));
  // Series in a sorted order: after a reset prom-client lists them as they come back, which
  // differs between counting at once and folding pending counts in at the read.
  return out.join('\n').split('\n').sort().join('\n');
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('pre-bound decision counts and durations read the same as prom-client inc/observe', async () => {
  const bound = new Metrics();
  const plain = new Metrics();
  const rnd = seeded(4);
  const decisions = ['allow', 'deny', 'would_deny', 'audit', 'dry_run_deny'];
  const reasons = ['allowed', 'policy_denied', 'token_expired', 'observed'];
  const policies = ['', 'orders-read', 'deny-admin', 'p "quoted"'];
  const transports = ['grpc-v3', 'grpc-v2', 'http'];
  // On a bucket bound, between bounds, beyond the last bound, zero.
  const durations = [0.0001, 0.00025, 0.0003, 0.001, 0.02, 1, 1.5, 0, 0.00009, 7];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 500; i++) {
      const [d, r, p] = [pick(decisions), pick(reasons), pick(policies)];
      bound.decisionCounts.inc(d, r, p);
      plain.decisions.inc({ decision: d, reason: r, policy: p });
      const [t, s] = [pick(transports), rnd() < 0.5 ? pick(durations) : pick(durations) * (1 + rnd() * 1e-6)];
      bound.checkDurationOf(t).observe(s);
      plain.checkDuration.observe({ transport: t }, s);
    }
    // Read between rounds (counts pending since the last read are folded in on every read).
    assert.equal(await exposition(bound), await exposition(plain), `round ${round}`);
    if (round === 3) {
      // A reset drops every series; the pre-bound ones find theirs again afterwards.
      for (const m of [bound, plain]) {
        m.decisions.reset();
        m.checkDuration.reset();
      }
    }
  }
  assert.match(await exposition(bound), /zt_authz_check_duration_seconds_count\{transport="grpc-v3"\} [1-9]/);
});

test('a duration prom-client refuses is refused the same way (the recorder logs it)', () => {
  const m = new Metrics();
  assert.throws(() => m.checkDurationOf('http').observe(Number.NaN), TypeError);
});
