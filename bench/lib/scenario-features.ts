// Scenario 6: what two optional features cost a cached-token allow end to end, under h2load, one
// process each, against the same service without them:
//   - tracing off / sampleRatio 0.01 / sampleRatio 1, exporting over OTLP/HTTP to a sink in the
//     bench process that accepts, counts and drops the spans (bench/lib/otlp-sink.ts);
//   - the internal token: off / on with the minted token reused from its cache (target: CPU per
//     request <= 1.15x off) / on with cacheMaxEntries 0, so every allow signs (a cache miss).
// Every variant is started first and stays up; the load runs are then interleaved, one per
// variant per round, the order reversed every other round, so a machine that gets busier or
// quieter during the scenario weighs on every variant alike. The request carries no B3 headers:
// with Envoy's sampled flag the caller would decide, and every ratio would trace every request.
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { envoyCheckRequest, writeFrame } from './frames.js';
import type { ConfigFn, Harness } from './harness.js';
import { expectAllow, loadWithH2load, type LoadResult } from './measure.js';
import { OtlpSink } from './otlp-sink.js';
import { decisionCounts, type RunningProcess } from './server.js';
import { sampleChecks } from './grpc-sample.js';
import { mint } from './tokens.js';
import { log, round, sleep } from './util.js';
import { newPrivateJwk, writeKeyFile } from '../../src/mint/keys/new-key.js';
import { EXPORT_DELAY_MS } from '../../src/observe/tracing/provider.js';
import { InternalError } from '../../src/errors.js';

export const FEATURE_TARGETS = { maxMintHitCpuRatio: 1.15 } as const;
export const MINT_ISSUER = 'https://zt-authz.bench.example';

export type FeatureKey = 'plain' | 'trace001' | 'trace1' | 'mintHit' | 'mintMiss';

/** One variant over every round: means of the rounds, and the ratios to the plain variant's means. */
export interface FeatureResult {
  label: string;
  rps: number;
  cpuUsPerRequest: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  verified: boolean;
  rpsRatio: number;
  cpuRatio: number;
  p99Ratio: number;
  runs: LoadResult[];
  /** Tracing variants: what the sink received, against every allow the service made (warm-ups and samples included). */
  spans?: { received: number; posts: number; malformed: number; allows: number; perAllow: number };
  /** Internal-token variants: the sampled Checks' upstream token, verified against the service's JWKS (never the token itself). */
  minted?: MintEvidence;
}

export interface MintEvidence {
  header: string;
  samples: number;
  verifiedWithJwks: number;
  distinctTokens: number;
  iss: string;
  sub: string;
  aud: string;
  kid: string;
  claims: string[];
}

interface Variant {
  key: FeatureKey;
  label: string;
  cfg: ConfigFn;
  sink?: OtlpSink;
  mint?: 'hit' | 'miss';
  svc?: RunningProcess;
  runs: LoadResult[];
  minted?: MintEvidence;
}

export async function scenario6(h: Harness): Promise<void> {
  const { O } = h;
  const token = mint(h.keys.RS256, { ...h.tokenBase, subject: 'alice' });
  const frame = join(h.work, 's6.bin');
  const bytes = writeFrame(frame, { token, traceHeaders: false });
  const rounds = O.s6Rounds;
  log(
    `scenario 6: tracing and internal tokens, cached RS256 token, 20 policies, 1 process each; ${rounds} interleaved round(s); frame ${bytes} bytes`,
  );

  const keysDir = join(h.work, 's6-signing');
  writeKeyFile(keysDir, newPrivateJwk('ES256'));
  const base = h.config(20);
  const tracing = (sink: OtlpSink, sampleRatio: number): ConfigFn => {
    return (g, a) => ({ ...base(g, a), tracing: { otlp: { endpoint: sink.endpoint }, sampleRatio, serviceName: 'zt-authz-bench' } });
  };
  // ttlSeconds at its cap: the cached variant reuses its token for 450 s, longer than the scenario.
  const minting = (cacheMaxEntries?: number): ConfigFn => {
    return (g, a) => ({
      ...base(g, a),
      tokenIssuer: { issuer: MINT_ISSUER, keysDir, algorithm: 'ES256', ttlSeconds: 900 },
      response: { internalToken: { enabled: true, claims: ['scope'], ...(cacheMaxEntries === undefined ? {} : { cacheMaxEntries }) } },
    });
  };
  const sink001 = await OtlpSink.start();
  const sink1 = await OtlpSink.start();
  const variants: Variant[] = [
    { key: 'plain', label: 'plain (no tracing, no internal token)', cfg: base, runs: [] },
    { key: 'trace001', label: 'tracing, sampleRatio 0.01', cfg: tracing(sink001, 0.01), sink: sink001, runs: [] },
    { key: 'trace1', label: 'tracing, sampleRatio 1', cfg: tracing(sink1, 1), sink: sink1, runs: [] },
    { key: 'mintHit', label: 'internal token, cached', cfg: minting(), mint: 'hit', runs: [] },
    { key: 'mintMiss', label: 'internal token, minted every allow', cfg: minting(0), mint: 'miss', runs: [] },
  ];
  try {
    for (const v of variants) {
      v.svc = await h.service(`zt-authz (s6 ${v.label})`, join(h.work, `s6-${v.key}.json`), v.cfg, { profile: O.profile });
      await expectAllow(v.svc, token, 'alice');
      if (v.mint) v.minted = await mintEvidence(v.svc, token, v.mint);
      else await expectNoUpstreamToken(v.svc, token);
    }
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) {
        log(`scenario 6 round ${r + 1}/${rounds}: ${v.label}`);
        const res = await loadWithH2load(O, v.svc!, frame);
        log(`  ${res.rps} req/s, ${res.cpuUsPerRequest} µs CPU per request, p99 ${res.latencyMs.p99} ms`);
        v.runs.push(res);
      }
    }
    // Spans are exported at most the batch delay after they end: wait for the last batch.
    await sleep(EXPORT_DELAY_MS + 1000);
    const s6: Record<string, unknown> = {
      description: `cached RS256 token, allow, 20 policies, 1 process per variant, h2load; ${rounds} round(s) interleaved (order reversed every other round); figures are means over the rounds, ratios to the plain variant; no B3 headers in the request, so sampleRatio alone decides`,
      rounds,
    };
    const plain = summarize(variants[0]!, undefined);
    s6.plain = plain;
    for (const v of variants.slice(1)) {
      const res = summarize(v, plain);
      if (v.sink) {
        const allows = (await decisionCounts(v.svc!.adminPort!)).allow;
        res.spans = {
          received: v.sink.spans,
          posts: v.sink.posts,
          malformed: v.sink.malformed,
          allows,
          perAllow: round(v.sink.spans / allows, 4),
        };
        log(`  ${v.label}: ${v.sink.spans} spans in ${v.sink.posts} posts for ${allows} allows`);
      }
      s6[v.key] = res;
    }
    const hit = s6.mintHit as FeatureResult;
    const miss = s6.mintMiss as FeatureResult;
    const missCostUs = round(miss.cpuUsPerRequest - hit.cpuUsPerRequest, 1);
    s6.mintMissCostUs = missCostUs;
    h.results['6'] = s6;
    const T = FEATURE_TARGETS;
    const profileHint = 'npm run bench -- --scenario 6 --profile';
    const traceLine = (r: FeatureResult): string =>
      `CPU ${r.cpuUsPerRequest} vs ${plain.cpuUsPerRequest} µs = ${r.cpuRatio}x, ${r.rps} vs ${plain.rps} req/s, p99 ${r.p99Ms} vs ${plain.p99Ms} ms; ${r.spans!.received} spans exported for ${r.spans!.allows} allows`;
    const t001 = s6.trace001 as FeatureResult;
    const t1 = s6.trace1 as FeatureResult;
    h.targets.push(
      {
        scenario: '6',
        target: 'tracing at sampleRatio 0.01 (OTLP/HTTP), 1 process: cost reported, spans exported',
        achieved: traceLine(t001),
        met: t001.verified && t001.spans!.received > 0,
        profileHint,
      },
      {
        scenario: '6',
        target: 'tracing at sampleRatio 1 (OTLP/HTTP), 1 process: cost reported, spans exported',
        achieved: traceLine(t1),
        met: t1.verified && t1.spans!.received > 0,
        profileHint,
      },
      {
        scenario: '6',
        target: `allow with a cached internal token (ES256), 1 process: CPU per request <= ${T.maxMintHitCpuRatio}x without`,
        achieved: `${hit.cpuRatio}x (${hit.cpuUsPerRequest} vs ${plain.cpuUsPerRequest} µs; ${hit.rps} vs ${plain.rps} req/s, p99 ${hit.p99Ms} vs ${plain.p99Ms} ms)`,
        met: hit.cpuRatio <= T.maxMintHitCpuRatio && hit.verified && plain.verified,
        profileHint,
      },
      {
        scenario: '6',
        target: 'internal token minted on every allow (cache miss, ES256), 1 process: reported',
        achieved: `+${missCostUs} µs CPU per request over the cached token (${miss.cpuUsPerRequest} µs = ${miss.cpuRatio}x without; ${miss.rps} req/s, p99 ${miss.p99Ms} ms)`,
        met: miss.verified,
        profileHint,
      },
    );
  } finally {
    for (const v of variants) if (v.svc) await h.stop(v.svc);
    await sink001.close();
    await sink1.close();
  }
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function summarize(v: Variant, plain: FeatureResult | undefined): FeatureResult {
  const rps = round(mean(v.runs.map((r) => r.rps)), 0);
  const cpu = round(mean(v.runs.map((r) => r.cpuUsPerRequest)), 1);
  const p99 = round(mean(v.runs.map((r) => r.latencyMs.p99)), 3);
  return {
    label: v.label,
    rps,
    cpuUsPerRequest: cpu,
    p50Ms: round(mean(v.runs.map((r) => r.latencyMs.p50)), 3),
    p90Ms: round(mean(v.runs.map((r) => r.latencyMs.p90)), 3),
    p99Ms: p99,
    verified: v.runs.every((r) => r.verified),
    rpsRatio: plain ? round(rps / plain.rps, 3) : 1,
    cpuRatio: plain ? round(cpu / plain.cpuUsPerRequest, 3) : 1,
    p99Ratio: plain ? round(p99 / plain.p99Ms, 3) : 1,
    runs: v.runs,
    ...(v.minted ? { minted: v.minted } : {}),
  };
}

/** The plain and tracing variants must not set a token upstream (their allows are the baseline). */
async function expectNoUpstreamToken(svc: RunningProcess, token: string): Promise<void> {
  const s = await sampleChecks(svc.grpcPort, envoyCheckRequest({ token, traceHeaders: false }), 1);
  if (s.some((x) => x.headers.authorization !== undefined))
    throw new InternalError(`${svc.name}: an upstream authorization header without an internal token configured`);
}

/**
 * Three Checks: each allow must carry a minted token upstream that verifies against the
 * service's own published JWKS; the cached variant must hand out one token, the other three.
 */
async function mintEvidence(svc: RunningProcess, token: string, mode: 'hit' | 'miss'): Promise<MintEvidence> {
  const samples = await sampleChecks(svc.grpcPort, envoyCheckRequest({ token, traceHeaders: false }), 3);
  const res = await fetch(`http://127.0.0.1:${svc.adminPort}/.well-known/jwks.json`, { signal: AbortSignal.timeout(5000) });
  const jwks = createLocalJWKSet((await res.json()) as { keys: [] });
  const seen = new Set<string>();
  let verified = 0;
  let last: { iss: string; sub: string; aud: string; kid: string; claims: string[] } | undefined;
  for (const s of samples) {
    const m = /^Bearer (\S+)$/.exec(s.headers.authorization ?? '');
    if (!s.allow || !m) throw new InternalError(`${svc.name}: an allow without a minted Bearer token upstream`);
    const jwt = m[1]!;
    seen.add(jwt);
    const { payload } = await jwtVerify(jwt, jwks, { issuer: MINT_ISSUER });
    verified++;
    last = {
      iss: String(payload.iss),
      sub: String(payload.sub),
      aud: String(payload.aud),
      kid: String(decodeProtectedHeader(jwt).kid),
      claims: Object.keys(payload).sort(),
    };
  }
  const want = mode === 'hit' ? 1 : samples.length;
  if (seen.size !== want)
    throw new InternalError(`${svc.name}: ${seen.size} distinct minted tokens in ${samples.length} allows, expected ${want} (${mode})`);
  return { header: 'authorization', samples: samples.length, verifiedWithJwks: verified, distinctTokens: seen.size, ...last! };
}
