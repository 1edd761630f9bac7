// In process: the cost of an API-key check against a cached JWT check, on one snapshot with the
// same policy (ALLOW any request principal with scope orders:read). Both go through
// DecisionEngine.decide (normalize excluded; no gRPC, metrics or audit), and through the
// authenticate phase alone, in interleaved blocks of 500 calls so JIT warm-up and GC favour neither.
// The key source holds --keys keys (default 10000): the lookup is one Map get whatever the count.
//   node dist/bench/apikey-micro.js [--iterations 50000] [--keys 10000]
// Prints one JSON line: {jwt: {decide: {p50Us, p99Us, meanUs}, authn: {...}}, apiKey: {...}, ratio: {decideP50, authnP50, decideMean, authnMean}}
// (apiKey / jwt). On a shared machine the means carry GC and scheduling pauses; p50 is the steadier figure.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { resolveConfig } from '../src/config/resolve.js';
import { buildSnapshot } from '../src/snapshot/builder.js';
import { buildIssuerKeys } from '../src/authn/key-resolvers.js';
import { DecisionEngine } from '../src/decision/engine.js';
import { InternalError } from '../src/errors.js';
import type { CheckInput } from '../src/decision/types.js';
import { argMap, percentile } from './lib/util.js';

const a = argMap(process.argv.slice(2));
const iterations = Number(a.get('iterations') ?? 50000);
const keyCount = Number(a.get('keys') ?? 10000);
const ISS = 'https://idp.bench';

async function main(): Promise<void> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ iss: ISS, sub: 'alice', aud: 'orders', scope: 'orders:read', iat: now, exp: now + 3600 })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .sign(privateKey);
  const apiKey = `zt_${randomBytes(32).toString('base64url')}`;
  const sha = (k: string): string => createHash('sha256').update(k).digest('hex');
  const keys = [{ name: 'bench', sha256: sha(apiKey), subject: 'acme', scopes: ['orders:read'] }];
  for (let i = 1; i < keyCount; i++) keys.push({ name: `k${i}`, sha256: sha(`other-${i}`), subject: `s${i}`, scopes: ['orders:read'] });
  const dir = mkdtempSync(join(tmpdir(), 'apikey-bench-'));
  const keysFile = join(dir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify({ keys }));
  try {
    const config = resolveConfig({
      issuers: [{ issuer: ISS, jwks: { keys: [jwk] }, audiences: ['orders'] }],
      apiKeys: [{ name: 'partners', keysFile }],
      policies: [
        {
          name: 'orders',
          rules: [
            { from: [{ source: { requestPrincipals: ['*'] } }], when: [{ key: 'request.auth.claims[scope]', values: ['orders:read'] }] },
          ],
        },
      ],
    });
    const resolvers = new Map(config.issuers.map((iss) => [iss.issuer, buildIssuerKeys(iss, {})]));
    const snap = buildSnapshot(config, resolvers, { cacheHit: () => undefined, cacheMiss: () => undefined }, 1);
    const engine = new DecisionEngine(() => snap);
    const input = (headers: Record<string, string>): CheckInput => ({
      requestId: 'bench',
      method: 'GET',
      host: 'orders.shop.svc.cluster.local',
      path: '/api/orders',
      query: '',
      headers: { 'user-agent': 'bench', 'x-request-id': 'bench', ...headers },
      source: { labels: {}, address: '10.0.0.1' },
      destination: { labels: {}, address: '10.0.0.2', port: 8080 },
      contextExtensions: {},
    });
    const cases = { jwt: input({ authorization: `Bearer ${token}` }), apiKey: input({ 'x-api-key': apiKey }) };
    for (const inp of Object.values(cases)) {
      const d = await engine.decide(inp); // the JWT is verified and cached here
      if (!d.verdict.allow) throw new InternalError(`bench request not allowed: ${d.verdict.reason}`);
    }
    const decide = async (inp: CheckInput): Promise<number> => {
      const s = performance.now();
      const d = await engine.decide(inp);
      const us = (performance.now() - s) * 1000;
      if (!d.verdict.allow) throw new InternalError('not allowed');
      return us;
    };
    const authn = async (inp: CheckInput): Promise<number> => {
      const s = performance.now();
      const r = await engine.authenticate(inp, snap);
      const us = (performance.now() - s) * 1000;
      if (r.kind !== 'authenticated') throw new InternalError('not authenticated');
      return us;
    };
    const names = ['jwt', 'apiKey'] as const;
    const times = {
      decide: new Map(names.map((n) => [n, new Float64Array(iterations)])),
      authn: new Map(names.map((n) => [n, new Float64Array(iterations)])),
    };
    for (const n of names) for (let i = 0; i < 5000; i++) await decide(cases[n]); // warm-up
    const block = 500;
    for (let done = 0; done < iterations; done += block) {
      for (const n of names) {
        const dArr = times.decide.get(n)!;
        const aArr = times.authn.get(n)!;
        for (let i = done; i < Math.min(iterations, done + block); i++) dArr[i] = await decide(cases[n]);
        for (let i = done; i < Math.min(iterations, done + block); i++) aArr[i] = await authn(cases[n]);
      }
    }
    const r = (v: number): number => Math.round(v * 1000) / 1000;
    const stats = (arr: Float64Array) => {
      arr.sort();
      let sum = 0;
      for (const t of arr) sum += t;
      return { p50Us: r(percentile(arr, 50)), p99Us: r(percentile(arr, 99)), meanUs: r(sum / arr.length) };
    };
    const out = Object.fromEntries(names.map((n) => [n, { decide: stats(times.decide.get(n)!), authn: stats(times.authn.get(n)!) }]));
    const ratio = {
      decideP50: r(out.apiKey!.decide.p50Us / out.jwt!.decide.p50Us),
      authnP50: r(out.apiKey!.authn.p50Us / out.jwt!.authn.p50Us),
      decideMean: r(out.apiKey!.decide.meanUs / out.jwt!.decide.meanUs),
      authnMean: r(out.apiKey!.authn.meanUs / out.jwt!.authn.meanUs),
    };
    process.stdout.write(`${JSON.stringify({ node: process.version, iterations, keys: keyCount, ...out, ratio })}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
