// The CI variant of `npm run soak`: the same driver (bench/soak.ts) for 60 s instead of
// 10 minutes, policies rewritten every 15 s (so at least 3 reloads happen), with the same
// criteria, checked here again from the raw figures of its JSON report rather than from its
// verdicts: 0 errors, server decisions equal to what was sent per reason, every rewrite
// reloaded, RSS growth < 5 % after a 30 s warm-up, no event-loop stall > 50 ms.
// Needs h2load (Debian nghttp2-client): in CI its absence is a failure, elsewhere a loud skip.
// Runs alone: the file sorts just before the log-hygiene scan, and waits until every other test
// file of the run (but that scan, which waits for it in turn) has exited. A soak beside another
// test file would measure that file's CPU use, and its nice -10 server would starve that file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { otherTestFiles, waitForOtherTestFiles } from '../helpers/siblings.js';

const SOAK = new URL('../../bench/soak.js', import.meta.url).pathname;
const DURATION_S = 60;
const RELOAD_EVERY_S = 15;

function h2loadInstalled(): boolean {
  try {
    execFileSync('h2load', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

interface KindReport {
  key: string;
  planned: number;
  h2load: { total: number; done: number; failed: number; errored: number; timeout: number; status2xx: number; statusOther: number };
  expected: { decision: string; reason: string };
}

interface SoakReport {
  passed: boolean;
  kinds: KindReport[];
  serverCounts: Record<string, number>;
  reloads: { ok: number; errors: number; rewrites: Array<{ observedMs: number | null; policiesLoaded: number; expectedPolicies: number }> };
  rss: { baselineMb: number; finalMb: number; growthPct: number; windowS: number };
  eventLoop: { maxIntervalMs: number; stallMs: number; resolutionMs: number; atS: number; waitInThatWindowMs: number };
  lagReadings: Array<[number, number, number, number]>;
  samples: Array<{ t: number; rssMb: number }>;
  rate: { total: number; loadSeconds: number };
  settings: { warmupS: number };
  criteria: Array<{ name: string; achieved: string; met: boolean }>;
}

const missing = !h2loadInstalled();
const inCi = process.env.CI === 'true';
const MISSING = 'h2load (Debian package nghttp2-client) is not installed';

if (missing && !inCi) {
  process.stderr.write(`\n*** soak test SKIPPED: ${MISSING}. Install it (scripts/ci-deps.sh nghttp2-client) to run it. ***\n\n`);
}

test(
  `soak (${DURATION_S} s, the CI variant of npm run soak): 0 errors, decisions reconcile, reloads, RSS growth < 5 %, no event-loop stall > 50 ms`,
  { timeout: 900_000, skip: missing && !inCi ? `${MISSING}: skipped outside CI` : false },
  async (t) => {
    assert.ok(!missing, `${MISSING}: CI must install it (scripts/ci-deps.sh nghttp2-client in .ci/run)`);
    const others = otherTestFiles(/log-hygiene/);
    if (others.length)
      t.diagnostic(`waiting for ${others.length} other test file(s) to finish so the soak runs alone: ${others.join(', ')}`);
    await waitForOtherTestFiles(600_000, /log-hygiene/);
    const child = spawn(
      process.execPath,
      [SOAK, '--duration', String(DURATION_S), '--reload-every', String(RELOAD_EVERY_S), '--json', '--stall-basis', 'own'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    // The table and progress lines, for the CI log.
    for (const line of err.split('\n')) if (line.trim()) t.diagnostic(line);
    assert.notEqual(code, 2, `the soak could not run:\n${err}`);
    const report = JSON.parse(out.trim().split('\n').pop() ?? '') as SoakReport;

    // 0 errors seen by h2load: every planned request done, every one a 200 without error.
    assert.ok(report.kinds.length === 4, `every request kind ran: ${report.kinds.map((k) => k.key).join(', ')}`);
    for (const k of report.kinds) {
      const h = k.h2load;
      assert.ok(h.total > 0 && h.total === k.planned, `${k.key}: ${h.total} of ${k.planned} planned requests`);
      assert.deepEqual(
        { done: h.done, failed: h.failed, errored: h.errored, timeout: h.timeout, status2xx: h.status2xx, statusOther: h.statusOther },
        { done: h.total, failed: 0, errored: 0, timeout: 0, status2xx: h.total, statusOther: 0 },
        `${k.key}: h2load errors`,
      );
    }
    // The server decided each request exactly as expected: its counters grew by what was sent, per
    // reason, and by nothing else (no internal_error, no jwks_unavailable).
    const expected: Record<string, number> = {};
    for (const r of Object.keys(report.serverCounts)) expected[r] = 0;
    for (const k of report.kinds) expected[k.expected.reason] = (expected[k.expected.reason] ?? 0) + k.h2load.total;
    assert.deepEqual(report.serverCounts, expected, 'zt_authz_decisions_total by reason == requests sent');
    assert.ok(
      (expected.allowed ?? 0) > 0 && (expected.policy_denied ?? 0) > 0 && (expected.token_missing ?? 0) > 0,
      'the mix has allows and denies',
    );
    assert.equal(report.serverCounts.internal_error, 0);
    assert.equal(report.serverCounts.jwks_unavailable, 0);

    // Reloads: at least 3 rewrites, each one reloaded (and live: the policy count), none rejected.
    assert.ok(report.reloads.rewrites.length >= 3, `${report.reloads.rewrites.length} policy rewrites in ${DURATION_S} s`);
    assert.equal(
      report.reloads.ok,
      report.reloads.rewrites.length,
      'zt_authz_policy_reload_total{result="success"} grew by the number of rewrites',
    );
    assert.equal(report.reloads.errors, 0, 'no reload error');
    for (const r of report.reloads.rewrites) {
      assert.notEqual(r.observedMs, null, 'every rewrite was picked up');
      assert.equal(r.policiesLoaded, r.expectedPolicies, 'zt_authz_policies_loaded shows the rewritten policy set');
    }

    // RSS: median over a window after warm-up against the median of the last window.
    const { rss } = report;
    assert.ok(report.settings.warmupS >= 15, 'warm-up of at least 15 s (30 s by default at this length)');
    const inBase = report.samples.filter((s) => s.t >= report.settings.warmupS && s.t < report.settings.warmupS + rss.windowS);
    assert.ok(inBase.length >= 5, `enough RSS samples after warm-up (${inBase.length})`);
    assert.ok(rss.growthPct < 5, `RSS growth ${rss.growthPct} % (${rss.baselineMb} → ${rss.finalMb} MB) must stay under 5 %`);

    // Event loop: a reading about every second over the whole run, the largest stall <= 50 ms.
    assert.ok(
      report.lagReadings.length >= report.rate.loadSeconds * 0.8,
      `${report.lagReadings.length} event-loop readings in ${report.rate.loadSeconds} s`,
    );
    const maxReading = Math.max(...report.lagReadings.map((r) => r[1]));
    assert.equal(maxReading, report.eventLoop.maxIntervalMs);
    // The suite runs two test files at once on 2 cores: the stall counted here is the server's own
    // (each second's delay less the time its loop thread waited for a CPU, recomputed from the raw
    // readings); `npm run soak` on a dedicated machine uses the delay as measured.
    const own = Math.max(0, ...report.lagReadings.map((r) => r[1] - report.eventLoop.resolutionMs - r[3]));
    assert.ok(Math.abs(own - report.eventLoop.stallMs) < 0.1, `own stall recomputed ${own} vs reported ${report.eventLoop.stallMs}`);
    assert.ok(
      report.eventLoop.stallMs <= 50,
      `event-loop stall ${report.eventLoop.stallMs} ms (largest monitorEventLoopDelay interval ${maxReading} ms at t=${report.eventLoop.atS} s, ` +
        `the loop thread had waited ${report.eventLoop.waitInThatWindowMs} ms for a CPU in that window) must be <= 50 ms`,
    );

    assert.ok(
      report.passed,
      `every criterion met: ${report.criteria
        .filter((c) => !c.met)
        .map((c) => `${c.name}: ${c.achieved}`)
        .join('; ')}`,
    );
    assert.equal(code, 0, 'soak exit code');
  },
);
