// In process: what a check costs with a cached introspection result against a cached JWT, both
// through DecisionEngine.decide (normalize excluded) and through Authenticator.authenticate
// alone. One issuer verifies JWTs locally (inline JWKS) and introspects opaque tokens at a local
// endpoint; both tokens are checked once to fill the cache, then measured in interleaved blocks.
//   node dist/bench/introspection-micro.js [--iterations 200000] [--block 1000]
// Prints one JSON line: {decide: {jwtNs, opaqueNs, ratio}, authenticate: {...}, blocks, node}
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { resolveConfig } from '../src/config/resolve.js';
import { buildSnapshot } from '../src/snapshot/builder.js';
import { buildIssuerKeys } from '../src/authn/key-resolvers.js';
import { DecisionEngine } from '../src/decision/engine.js';
import { InternalError } from '../src/errors.js';
import { normalizeCheckRequest } from '../src/transport/grpc/normalize.js';
import { envoyCheckRequest } from './lib/frames.js';
import { argMap, percentile } from './lib/util.js';

const a = argMap(process.argv.slice(2));
const iterations = Number(a.get('iterations') ?? 200_000);
const block = Number(a.get('block') ?? 1000);
const ISS = 'https://idp.bench';
const AUD = 'orders';
const now = Math.floor(Date.now() / 1000);

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ active: true, iss: ISS, aud: AUD, sub: 'svc', scope: 'orders:read', exp: now + 3600, token_type: 'Bearer' }));
  });
});
server.listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const dir = mkdtempSync(join(tmpdir(), 'zt-bench-introspect-'));
writeFileSync(join(dir, 'secret'), 'bench-secret');

const { privateKey, publicKey } = await generateKeyPair('ES256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'b1', alg: 'ES256' };
const jwt = await new SignJWT({ iss: ISS, sub: 'alice', aud: AUD, scope: 'orders:read', iat: now, exp: now + 3600 })
  .setProtectedHeader({ alg: 'ES256', kid: 'b1' })
  .sign(privateKey);
const opaque = 'opaque_' + 'x'.repeat(40);

const config = resolveConfig({
  issuers: [
    {
      issuer: ISS,
      jwks: { keys: [jwk] },
      audiences: [AUD],
      introspection: {
        endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`,
        clientId: 'bench',
        clientSecretFile: join(dir, 'secret'),
        cacheSeconds: 3600,
      },
    },
  ],
  policies: [
    {
      name: 'read',
      rules: [
        {
          from: [{ source: { requestPrincipals: [`${ISS}/*`] } }],
          to: [{ operation: { methods: ['GET'], paths: ['/api/*'] } }],
          when: [{ key: 'request.auth.claims[scope]', values: ['orders:read'] }],
        },
      ],
    },
  ],
});
const keys = new Map(config.issuers.map((iss) => [iss.issuer, buildIssuerKeys(iss, {})]));
const snap = buildSnapshot(config, keys, { cacheHit: () => undefined, cacheMiss: () => undefined }, 1);
const engine = new DecisionEngine(() => snap);
const inputFor = (token: string) => {
  const norm = normalizeCheckRequest(envoyCheckRequest({ token }), config.limits);
  if (!norm.ok) throw new InternalError(norm.detail);
  return norm.input;
};
const inputs = { jwt: inputFor(jwt), opaque: inputFor(opaque) };
for (const [name, input] of Object.entries(inputs)) {
  const d = await engine.decide(input); // fills the cache
  if (d.verdict.reason !== 'allowed') throw new InternalError(`${name}: ${d.verdict.reason}`);
}

/** ns per call of `fn` in interleaved blocks; the median block. */
async function measure(fns: Record<'jwt' | 'opaque', () => unknown>): Promise<Record<'jwt' | 'opaque', number>> {
  const per: Record<'jwt' | 'opaque', number[]> = { jwt: [], opaque: [] };
  for (let done = 0; done < iterations; done += block) {
    for (const k of ['jwt', 'opaque'] as const) {
      const fn = fns[k];
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < block; i++) {
        const r = fn();
        if (r instanceof Promise) await r;
      }
      per[k].push(Number(process.hrtime.bigint() - t0) / block);
    }
  }
  const med = (xs: number[]) =>
    percentile(
      [...xs].sort((x, y) => x - y),
      50,
    );
  return { jwt: med(per.jwt), opaque: med(per.opaque) };
}

const auth = snap.authenticator;
const decide = await measure({ jwt: () => engine.decide(inputs.jwt), opaque: () => engine.decide(inputs.opaque) });
const authn = await measure({ jwt: () => auth.authenticate(inputs.jwt), opaque: () => auth.authenticate(inputs.opaque) });
const fmt = (m: Record<'jwt' | 'opaque', number>) => ({
  jwtNs: Math.round(m.jwt),
  opaqueNs: Math.round(m.opaque),
  ratio: Math.round((m.opaque / m.jwt) * 1000) / 1000,
});
process.stdout.write(
  JSON.stringify({ decide: fmt(decide), authenticate: fmt(authn), blocks: iterations / block, block, node: process.version }) + '\n',
);
for (const k of keys.values()) k.stop();
server.close();
