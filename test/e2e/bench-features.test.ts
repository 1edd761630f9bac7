// `npm run bench -- --scenario 6` (bench/lib/scenario-features.ts) runs end to end: a quick run
// with tiny load windows, then its JSON report. Speed is not asserted (that is the bench's job);
// what is: every variant was measured and its allows proven by the server's counters, the tracing
// variants' spans reached the OTLP sink (about 1 % of the allows at sampleRatio 0.01, which holds
// only if the request carries no sampled caller context, and every allow at 1), and the
// internal-token variants' allows carried a minted token that verifies against the service's
// JWKS, one token reused from the cache, a new one on every allow with the cache off.
// Needs h2load (Debian nghttp2-client): in CI its absence is a failure, elsewhere a loud skip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureChild } from '../helpers/capture.js';
import type { FeatureResult } from '../../bench/lib/scenario-features.js';
import { MINT_ISSUER } from '../../bench/lib/scenario-features.js';
import type { Target } from '../../bench/lib/harness.js';

const RUN = new URL('../../bench/run.js', import.meta.url).pathname;
const MISSING = 'h2load (Debian package nghttp2-client) is not installed';

function h2loadInstalled(): boolean {
  try {
    execFileSync('h2load', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const missing = !h2loadInstalled();
const inCi = process.env.CI === 'true';
if (missing && !inCi) process.stderr.write(`\n*** bench scenario 6 test SKIPPED: ${MISSING}. ***\n\n`);

interface Report {
  results: { '6'?: Record<string, unknown> };
  targets: Target[];
}

test(
  'bench scenario 6 (tracing, internal tokens): every variant measured; spans exported at the configured ratio; minted tokens upstream',
  { timeout: 240_000, skip: missing && !inCi ? `${MISSING}: skipped outside CI` : false },
  async () => {
    assert.ok(!missing, `${MISSING}: CI must install it (scripts/ci-deps.sh nghttp2-client)`);
    const dir = mkdtempSync(join(tmpdir(), 'zt-bench-s6-'));
    try {
      const out = join(dir, 's6.json');
      const child = spawn(
        process.execPath,
        [RUN, '--scenario', '6', '--quick', '--duration', '1', '--warmup', '0.5', '--conns', '2', '--streams', '8', '--out', out],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      captureChild('bench scenario 6', child); // log hygiene: the bench prints no token
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      assert.equal(code, 0, `bench failed:\n${stderr}`);

      const report = JSON.parse(readFileSync(out, 'utf8')) as Report;
      const s6 = report.results['6'];
      assert.ok(s6, 'scenario 6 in the report');
      const v = (k: string): FeatureResult => s6[k] as FeatureResult;
      for (const k of ['plain', 'trace001', 'trace1', 'mintHit', 'mintMiss']) {
        const r = v(k);
        assert.ok(r, `variant ${k}`);
        assert.equal(r.runs.length, 1, `${k}: one run per round, --quick is one round`);
        assert.ok(r.runs[0]!.requests > 0, `${k}: requests measured`);
        assert.equal(r.verified, true, `${k}: the counters prove every measured request an allow`);
        assert.ok(r.cpuUsPerRequest > 0 && Number.isFinite(r.cpuRatio), `${k}: CPU per request and its ratio`);
        assert.ok(
          stdout.split('\n').some((l) => l.startsWith(`6 ${r.label.slice(0, 20)}`)),
          `${k}: a row in the printed table`,
        );
      }

      const t001 = v('trace001').spans!;
      const t1 = v('trace1').spans!;
      assert.equal(t001.malformed + t1.malformed, 0, 'every export body is an ExportTraceServiceRequest');
      // sampleRatio 1: every allow (warm-up and sample Checks included) exported.
      assert.ok(t1.allows > 0);
      assert.equal(t1.received, t1.allows, 'sampleRatio 1: one span per allow reached the sink');
      // sampleRatio 0.01: some spans, far fewer than allows (a sampled caller context would make it every one).
      assert.ok(t001.received > 0, 'sampleRatio 0.01: spans reached the sink');
      assert.ok(t001.perAllow < 0.05, `sampleRatio 0.01: ${t001.received} spans for ${t001.allows} allows`);
      assert.equal(v('plain').spans, undefined);

      for (const [k, distinct] of [
        ['mintHit', 1],
        ['mintMiss', 3],
      ] as const) {
        const m = v(k).minted!;
        assert.ok(m, `${k}: minted-token evidence`);
        assert.equal(m.header, 'authorization');
        assert.equal(m.verifiedWithJwks, m.samples, `${k}: every sampled allow's upstream token verified with the JWKS`);
        assert.equal(m.samples, 3);
        assert.equal(m.distinctTokens, distinct, `${k}: distinct minted tokens`);
        assert.equal(m.iss, MINT_ISSUER);
        assert.equal(m.sub, 'alice');
        assert.equal(m.aud, 'spiffe://cluster.local/ns/shop/sa/orders');
        for (const c of ['scope', 'jti', 'exp', 'zt_cred_hash']) assert.ok(m.claims.includes(c), `${k}: claim ${c}`);
      }
      assert.equal(v('plain').minted, undefined);
      assert.equal(typeof s6.mintMissCostUs, 'number');

      const targets = report.targets.filter((t) => t.scenario === '6');
      assert.equal(targets.length, 4);
      assert.ok(targets.some((t) => /cached internal token .*<= 1\.15x/.test(t.target)));
      assert.match(stdout, /\[(met {3}|MISSED)\] scenario 6: allow with a cached internal token/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
