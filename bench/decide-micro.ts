// Scenario 4, in process: the cost of one engine decision (DecisionEngine.decide, normalize
// excluded) on a snapshot with N policies, cached token, the bench request. No gRPC, no metrics,
// no audit. The policy counts
// are measured in interleaved blocks of 500 calls.
//   node dist/bench/decide-micro.js --config-dir DIR --token T --policies 10,10000 [--iterations 20000]
// Prints one JSON line: {"10": {p50Us, p99Us, meanUs, compileMs}, ...}
// With --mint ALG (ES256 | EdDSA | RS256), instead: the internal token's cost on the first policy
// count's configuration (bench/lib/mint-micro.ts): allow without minting, with a minted token
// from the cache, and with one signed on every decision. Prints {"node", "mint": {...}}.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig } from '../src/config/resolve.js';
import { buildSnapshot } from '../src/snapshot/builder.js';
import { buildIssuerKeys } from '../src/authn/key-resolvers.js';
import { DecisionEngine } from '../src/decision/engine.js';
import { InternalError } from '../src/errors.js';
import { normalizeCheckRequest } from '../src/transport/grpc/normalize.js';
import { envoyCheckRequest } from './lib/frames.js';
import { argMap, percentile } from './lib/util.js';
import { mintMicro } from './lib/mint-micro.js';
import type { MintAlgorithm } from '../src/mint/keys/signing-key.js';

const a = argMap(process.argv.slice(2));
const dir = a.get('config-dir')!;
const token = a.get('token')!;
const iterations = Number(a.get('iterations') ?? 20000);
const counts = (a.get('policies') ?? '10,10000').split(',').map(Number);

interface Prepared {
  n: number;
  compileMs: number;
  run: () => Promise<number>;
}

async function prepare(n: number): Promise<Prepared> {
  const raw = JSON.parse(readFileSync(join(dir, `config-${n}.json`), 'utf8')) as unknown;
  const t0 = performance.now();
  const config = resolveConfig(raw, `config-${n}`);
  const keys = new Map(config.issuers.map((iss) => [iss.issuer, buildIssuerKeys(iss, {})]));
  const snap = buildSnapshot(config, keys, { cacheHit: () => undefined, cacheMiss: () => undefined }, 1);
  const compileMs = performance.now() - t0;
  const norm = normalizeCheckRequest(envoyCheckRequest({ token }), config.limits);
  if (!norm.ok) throw new InternalError(norm.detail);
  const engine = new DecisionEngine(() => snap);
  const first = await engine.decide(norm.input); // verifies and caches the token
  if (!first.verdict.allow) throw new InternalError(`bench request not allowed with ${n} policies: ${first.verdict.reason}`);
  const input = norm.input;
  return {
    n,
    compileMs,
    run: async () => {
      const s = performance.now();
      const d = await engine.decide(input);
      const us = (performance.now() - s) * 1000;
      if (!d.verdict.allow) throw new InternalError('not allowed');
      return us;
    },
  };
}

async function mint(alg: MintAlgorithm): Promise<void> {
  const n = counts[0]!;
  const raw = JSON.parse(readFileSync(join(dir, `config-${n}.json`), 'utf8')) as Record<string, unknown>;
  const norm = normalizeCheckRequest(envoyCheckRequest({ token }), resolveConfig(raw, `config-${n}`).limits);
  if (!norm.ok) throw new InternalError(norm.detail);
  const result = await mintMicro(raw, norm.input, iterations, alg);
  process.stdout.write(`${JSON.stringify({ node: process.version, policies: n, mint: result })}\n`);
}

async function main(): Promise<void> {
  const alg = a.get('mint');
  if (alg !== undefined) {
    if (alg !== 'ES256' && alg !== 'EdDSA' && alg !== 'RS256') throw new InternalError(`--mint ${alg}: ES256, EdDSA or RS256`);
    return mint(alg);
  }
  const prepared: Prepared[] = [];
  for (const n of counts) prepared.push(await prepare(n));
  // Interleave blocks so JIT warm-up and GC timing favour neither policy count.
  const times = new Map(prepared.map((p) => [p.n, new Float64Array(iterations)]));
  const block = 500;
  for (const p of prepared) for (let i = 0; i < 2000; i++) await p.run(); // warm-up
  for (let done = 0; done < iterations; done += block) {
    for (const p of prepared) {
      const arr = times.get(p.n)!;
      for (let i = done; i < Math.min(iterations, done + block); i++) arr[i] = await p.run();
    }
  }
  const r = (v: number): number => Math.round(v * 100) / 100;
  const out: Record<string, Record<string, number>> = {};
  for (const p of prepared) {
    const arr = times.get(p.n)!.sort();
    let sum = 0;
    for (const t of arr) sum += t;
    out[p.n] = { p50Us: r(percentile(arr, 50)), p99Us: r(percentile(arr, 99)), meanUs: r(sum / arr.length), compileMs: r(p.compileMs) };
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
