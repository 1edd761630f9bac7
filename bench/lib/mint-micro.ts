// In process: what the internal token (response.internalToken, src/mint/) costs an allow. Three
// snapshots of one configuration differ only in minting: off; on with the minted-token cache (the
// steady state: one token per credential, audience and caller, reused for half its lifetime); on
// with the cache off (cacheMaxEntries 0: every decision signs, the cost of a cache miss). Each goes
// through DecisionEngine.decide (normalize excluded; no gRPC, metrics or audit), in interleaved
// blocks of 500 calls so JIT warm-up and GC favour none. Used by bench/decide-micro.ts --mint.
import { generateKeyPairSync, sign } from 'node:crypto';
import { resolveConfig } from '../../src/config/resolve.js';
import { buildSnapshot } from '../../src/snapshot/builder.js';
import { buildIssuerKeys } from '../../src/authn/key-resolvers.js';
import { DecisionEngine } from '../../src/decision/engine.js';
import { InternalError } from '../../src/errors.js';
import type { CheckInput } from '../../src/decision/types.js';
import type { MintAlgorithm, SigningKey } from '../../src/mint/keys/signing-key.js';
import { percentile } from './util.js';

export interface MintMicroStats {
  p50Us: number;
  p99Us: number;
  meanUs: number;
}

export interface MintMicroResult {
  alg: MintAlgorithm;
  iterations: number;
  /** Minting off. */
  plain: MintMicroStats;
  /** Minting on, the token reused from the cache. */
  hit: MintMicroStats;
  /** Minting on, a new token signed on every decision. */
  miss: MintMicroStats;
  /** hit / plain, p50 and mean (target ≤ 1.15). */
  ratioHitP50: number;
  ratioHitMean: number;
  /** miss - plain at p50: one mint (claims, JSON, base64url, one signature). */
  missCostP50Us: number;
}

/** A key held in this process (what the key ring's file and Secret keys are), without the ring. */
function benchKey(alg: MintAlgorithm): SigningKey {
  const { privateKey } =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : alg === 'EdDSA'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    kid: `bench-${alg}`,
    alg,
    sign: (data) =>
      alg === 'EdDSA'
        ? sign(null, data, privateKey)
        : sign('sha256', data, alg === 'ES256' ? { key: privateKey, dsaEncoding: 'ieee-p1363' } : privateKey),
  };
}

/** `raw`: a configuration that allows `input` (the bench request with its cached token). */
export async function mintMicro(
  raw: Record<string, unknown>,
  input: CheckInput,
  iterations: number,
  alg: MintAlgorithm,
): Promise<MintMicroResult> {
  const key = benchKey(alg);
  const source = { signingKey: () => key };
  const engineWith = (internalToken: Record<string, unknown>): DecisionEngine => {
    const config = resolveConfig({
      ...raw,
      tokenIssuer: { issuer: 'https://zt-authz.bench', keysDir: '/nonexistent', algorithm: alg },
      response: { ...(raw.response as object | undefined), internalToken: { claims: ['scope'], ...internalToken } },
    });
    const keys = new Map(config.issuers.map((iss) => [iss.issuer, buildIssuerKeys(iss, {})]));
    const snap = buildSnapshot(config, keys, { cacheHit: () => undefined, cacheMiss: () => undefined }, 1, { signingKeys: source });
    return new DecisionEngine(() => snap);
  };
  const engines = {
    plain: engineWith({ enabled: false }),
    hit: engineWith({ enabled: true }),
    miss: engineWith({ enabled: true, cacheMaxEntries: 0 }),
  };
  const names = ['plain', 'hit', 'miss'] as const;
  for (const n of names) {
    const d = await engines[n].decide(input); // verifies and caches the bench token
    if (!d.verdict.allow) throw new InternalError(`mint bench (${n}): not allowed: ${d.verdict.reason} ${d.verdict.detail ?? ''}`);
    const minted = d.response.upstreamHeaders.some(([h]) => h === 'authorization');
    if (minted !== (n !== 'plain')) throw new InternalError(`mint bench (${n}): token ${minted ? 'set' : 'missing'}`);
  }
  const run = async (engine: DecisionEngine): Promise<number> => {
    const s = performance.now();
    const d = await engine.decide(input);
    const us = (performance.now() - s) * 1000;
    if (!d.verdict.allow) throw new InternalError('not allowed');
    return us;
  };
  const times = new Map(names.map((n) => [n, new Float64Array(iterations)]));
  for (const n of names) for (let i = 0; i < 2000; i++) await run(engines[n]); // warm-up
  const block = 500;
  for (let done = 0; done < iterations; done += block) {
    for (const n of names) {
      const arr = times.get(n)!;
      for (let i = done; i < Math.min(iterations, done + block); i++) arr[i] = await run(engines[n]);
    }
  }
  const r = (v: number): number => Math.round(v * 100) / 100;
  const stats = (arr: Float64Array): MintMicroStats => {
    arr.sort();
    let sum = 0;
    for (const t of arr) sum += t;
    return { p50Us: r(percentile(arr, 50)), p99Us: r(percentile(arr, 99)), meanUs: r(sum / arr.length) };
  };
  const plain = stats(times.get('plain')!);
  const hit = stats(times.get('hit')!);
  const miss = stats(times.get('miss')!);
  return {
    alg,
    iterations,
    plain,
    hit,
    miss,
    ratioHitP50: r(hit.p50Us / plain.p50Us),
    ratioHitMean: r(hit.meanUs / plain.meanUs),
    missCostP50Us: r(miss.p50Us - plain.p50Us),
  };
}
