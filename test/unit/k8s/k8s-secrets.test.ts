// Stays on the fake API server: it records every list and watch (the name field selector RBAC relies on, a watch kept across a reload) and drops watches on demand (real-server Secret keys: test/integration/k8s-policies.test.ts).
// Issuer keys from a Kubernetes Secret (issuers[].jwksSecret), watched through @kubernetes/client-node
// against the in-process fake API server: not ready (jwks_unavailable) until the Secret exists,
// tokens verify once it does, an update rotates/revokes keys within 1 s (latency measured), a bad
// update or a deletion keeps the last-known-good keys (counted), list and watch carry the name
// field selector (so RBAC can name the Secret), an unknown kid never triggers a fetch, a reload
// that replaces the issuer's key manager has the keys at once, and the configuration checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeApiServer } from '../../helpers/fake-apiserver.js';
import { adminGet, readMetric, startTestApp, waitUntil, type TestApp } from '../../helpers/app.js';
import { authV3Client, check, checkRequest, closeAll, healthCheck, healthClient } from '../../helpers/grpc-client.js';
import { TestIdp, generateTestKey, type TestKey } from '../../helpers/idp.js';
import { normalizeCheckRequest } from '../../../src/transport/grpc/normalize.js';
import { ConfigError } from '../../../src/config/problems.js';
import { checkConfig } from '../../../src/snapshot/checked-config.js';
import { JwksUnavailableError } from '../../../src/authn/jwks/errors.js';
import { JwksManager } from '../../../src/authn/jwks/manager.js';
import type { Decision } from '../../../src/decision/decision.js';

const SECRETS = 'secrets';
const NS = 'idp';
const NAME = 'idp-keys';
const ISSUER = 'https://idp.secret.test';
const POLICIES = [{ name: 'allow-authenticated', action: 'ALLOW', rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] }];

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const jwksOf = (...keys: TestKey[]): string => JSON.stringify({ keys: keys.map((k) => k.jwk) });

function secret(data: Record<string, string>, name = NAME, namespace = NS) {
  return { metadata: { name, namespace }, type: 'Opaque', data };
}

function issuerConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { issuer: ISSUER, jwksSecret: { namespace: NS, name: NAME }, audiences: ['orders'], ...extra };
}

async function start(fake: FakeApiServer, issuers: unknown[] = [issuerConfig()]): Promise<TestApp> {
  return startTestApp({
    kubernetes: { enabled: true, apiServer: fake.url, watchPods: false, writeStatus: false, backoffMinMs: 20, backoffMaxMs: 200 },
    issuers,
    policies: POLICIES,
    server: { readyTimeoutSeconds: 1 },
  });
}

async function decide(t: TestApp, token: string): Promise<Decision> {
  const req = checkRequest({ token });
  return (await t.app.decideRequest('test', (limits) => normalizeCheckRequest(req, limits))).decision;
}

/** Poll until `pred` holds for the token's decision; returns the milliseconds it took. */
async function until(t: TestApp, token: string, pred: (d: Decision) => boolean, timeoutMs: number, what: string): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (pred(await decide(t, token))) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`${what}: not within ${timeoutMs} ms (last: ${(await decide(t, token)).verdict.reason})`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const watchErrors = (t: TestApp): Promise<number> =>
  readMetric(t.adminPort, 'zt_authz_jwks_refresh_total', { issuer: ISSUER, result: 'error', trigger: 'watch' });
const watchSuccesses = (t: TestApp): Promise<number> =>
  readMetric(t.adminPort, 'zt_authz_jwks_refresh_total', { issuer: ISSUER, result: 'success', trigger: 'watch' });

/** An IdP only used to sign (its HTTP server is never asked for keys: the config has no jwksUri). */
async function signer(): Promise<{ idp: TestIdp; k1: TestKey; k2: TestKey }> {
  const k1 = await generateTestKey('k1');
  const k2 = await generateTestKey('k2');
  const idp = await TestIdp.start({ issuer: ISSUER, keys: [k1, k2] });
  return { idp, k1, k2 };
}

test(
  'not ready (jwks_unavailable, UNAVAILABLE) until the Secret exists; then tokens verify; list and watch are narrowed to the Secret name',
  { timeout: 20000 },
  async () => {
    const fake = await FakeApiServer.start();
    const { idp, k1 } = await signer();
    // Another Secret in the namespace holds the signing key: it must never be used.
    fake.apply(SECRETS, secret({ 'jwks.json': b64(jwksOf(k1)) }, 'other-keys'));
    const t = await start(fake);
    const v3 = authV3Client(t.grpcPort);
    const h = healthClient(t.grpcPort);
    try {
      const inf = () => t.app.kubernetes!.secrets.informer(NS, NAME);
      await waitUntil(() => t.app.kubernetes!.synced && inf()?.hasSynced === true, 5000, 'informers listed');
      await waitUntil(async () => (await watchErrors(t)) >= 1, 2000, 'missing Secret counted');
      assert.equal(t.app.ready, false, 'fail closed: no keys, not ready');
      const token = await idp.sign({}, { key: k1 });
      const res = await check(v3, checkRequest({ token }));
      assert.equal(res.status?.code, 14, 'UNAVAILABLE, never OK');
      assert.equal(JSON.parse(res.deniedResponse?.body ?? '{}').error, 'jwks_unavailable');
      assert.equal((await healthCheck(h, '')).status, 'NOT_SERVING');
      assert.equal((await adminGet(t.adminPort, '/readyz')).status, 503);
      assert.match((await decide(t, token)).verdict.detail ?? '', /issuer keys are not available/);
      assert.ok(
        t
          .records()
          .some((r) => r.msg === 'JWKS Secret not found; its issuers have no keys until it is created' && r.jwksSecret === `${NS}/${NAME}`),
      );
      assert.ok(
        t
          .records()
          .some((r) => typeof r.error === 'string' && r.error === `JWKS Secret ${NS}/${NAME} key jwks.json: the Secret does not exist`),
      );

      fake.apply(SECRETS, secret({ 'jwks.json': b64(jwksOf(k1)), unrelated: b64('not a key set') }));
      await waitUntil(() => t.app.ready, 2000, 'ready once the Secret exists');
      const ok = await check(v3, checkRequest({ token }));
      assert.equal(ok.status?.code, 0, `allowed: ${ok.deniedResponse?.body}`);
      assert.equal((await healthCheck(h, '')).status, 'SERVING');
      assert.equal(await readMetric(t.adminPort, 'zt_authz_jwks_keys', { issuer: ISSUER }), 1);
      assert.equal(await watchSuccesses(t), 1);

      // Narrowed: every list and watch of Secrets names the one Secret (RBAC resourceNames work).
      const secretReqs = fake.requests.filter((r) => r.path.includes('/secrets'));
      assert.ok(secretReqs.some((r) => r.watch) && secretReqs.some((r) => !r.watch), 'a list and a watch');
      for (const r of secretReqs) {
        assert.equal(r.path, `/api/v1/namespaces/${NS}/secrets`);
        assert.equal(r.query.fieldSelector, `metadata.name=${NAME}`, `${r.watch ? 'watch' : 'list'} carries the field selector`);
      }
      // Logged by name, data key and hash: never key material.
      const changed = t.records().find((r) => r.msg === 'JWKS Secret changed');
      assert.ok(changed);
      assert.equal(changed.jwksSecret, `${NS}/${NAME}`);
      assert.match((changed.sha256 as Record<string, string>)['jwks.json']!, /^[0-9a-f]{12}$/);
      const text = t.lines.join('\n');
      assert.ok(!text.includes(String(k1.jwk.n).slice(0, 40)) && !text.includes(b64(jwksOf(k1)).slice(0, 40)), 'no key material in logs');
    } finally {
      closeAll(v3, h);
      await t.stop();
      await idp.close();
      await fake.close();
    }
  },
);

test(
  'Secret updated: the rotated key verifies and the old key is revoked (token_unknown_key) within 1 s, also when the kid is reused; an unknown kid fetches nothing',
  { timeout: 20000 },
  async () => {
    const fake = await FakeApiServer.start();
    const { idp, k1, k2 } = await signer();
    fake.apply(SECRETS, secret({ 'jwks.json': b64(jwksOf(k1)) }));
    const t = await start(fake);
    try {
      await waitUntil(() => t.app.ready, 5000, 'ready');
      const latencies: number[] = [];
      for (let i = 0; i < 3; i++) {
        const [oldKey, newKey] = i % 2 === 0 ? [k1, k2] : [k2, k1];
        const oldToken = await idp.sign({}, { key: oldKey });
        const newToken = await idp.sign({}, { key: newKey });
        assert.equal((await decide(t, oldToken)).verdict.allow, true, 'old key verifies (and the token is cached)');
        assert.equal((await decide(t, newToken)).verdict.reason, 'token_unknown_key');
        fake.apply(SECRETS, secret({ 'jwks.json': b64(jwksOf(newKey)) }));
        latencies.push(await until(t, newToken, (d) => d.verdict.allow, 1000, 'rotated key verifies'));
        const revoked = await decide(t, oldToken);
        assert.equal(revoked.verdict.reason, 'token_unknown_key', 'the removed key no longer verifies, cached or not');
        assert.equal(revoked.verdict.allow, false);
      }
      latencies.sort((a, b) => a - b);
      console.log(
        `# Secret update → rotated key in effect: median ${latencies[1]!.toFixed(1)} ms, max ${latencies[2]!.toFixed(1)} ms over ${latencies.length} updates`,
      );

      // Revocation that reuses the kid (new key material under "k1"): a token verified and cached
      // under the old material must not stay allowed from the verified-token cache.
      const reused = await generateTestKey('k1');
      fake.apply(SECRETS, secret({ 'jwks.json': b64(jwksOf(k1)) }));
      const cachedOld = await idp.sign({}, { key: k1 });
      await until(t, cachedOld, (d) => d.verdict.allow, 1000, 'k1 back');
      assert.equal((await decide(t, cachedOld)).verdict.allow, true, 'cached');
      fake.apply(SECRETS, secret({ 'jwks.json': b64(jwksOf(reused)) }));
      await until(t, await idp.sign({}, { key: reused }), (d) => d.verdict.allow, 1000, 'new material under the same kid verifies');
      const stale = await decide(t, cachedOld);
      assert.equal(stale.verdict.allow, false, 'the cached verification under the replaced key is dropped');
      assert.equal(stale.verdict.reason, 'token_invalid_signature');

      // Unknown kid: denied at once, and no fetch attempt is made for a pushed source.
      const errorsBefore = await watchErrors(t);
      const stranger = await generateTestKey('k3');
      const d = await decide(t, await idp.sign({}, { key: stranger }));
      assert.equal(d.verdict.reason, 'token_unknown_key');
      assert.equal(await watchErrors(t), errorsBefore);
      const attempts = await readMetric(t.adminPort, 'zt_authz_jwks_refresh_total', { issuer: ISSUER });
      assert.equal(attempts, errorsBefore + (await watchSuccesses(t)), 'every attempt counted is a pushed update: no on-demand fetch');
      assert.equal(t.app.ready, true);
    } finally {
      await t.stop();
      await idp.close();
      await fake.close();
    }
  },
);

test(
  'a bad Secret update (garbage, empty set, private key, no data key, not base64, oversize) keeps the last-known-good keys and is counted',
  { timeout: 20000 },
  async () => {
    const fake = await FakeApiServer.start();
    const { idp, k1, k2 } = await signer();
    fake.apply(SECRETS, secret({ 'jwks.json': b64(jwksOf(k1)) }));
    const t = await start(fake, [issuerConfig({ jwksMaxBytes: 4096 })]);
    try {
      await waitUntil(() => t.app.ready, 5000, 'ready');
      const token = await idp.sign({}, { key: k1 });
      assert.equal((await decide(t, token)).verdict.allow, true);
      const privateJwk = { ...k1.jwk, d: 'AQAB' }; // private member: the whole set is refused
      const bad: Array<[string, Record<string, string>, RegExp]> = [
        ['garbage', { 'jwks.json': b64('{"keys": [') }, /invalid JSON/],
        ['empty set', { 'jwks.json': b64('{"keys": []}') }, /no usable signing keys/],
        ['encryption-only key', { 'jwks.json': b64(JSON.stringify({ keys: [{ ...k2.jwk, use: 'enc' }] })) }, /no usable signing keys/],
        ['private key material', { 'jwks.json': b64(JSON.stringify({ keys: [privateJwk] })) }, /private or symmetric key material/],
        ['no data key', { 'keys.json': b64(jwksOf(k2)) }, /has no such data key/],
        ['not base64', { 'jwks.json': '%%% not base64 %%%' }, /not base64/],
        ['oversize', { 'jwks.json': b64(JSON.stringify({ keys: [k2.jwk], pad: 'x'.repeat(5000) })) }, /exceeds 4096 bytes/],
      ];
      for (const [what, data, why] of bad) {
        const before = await watchErrors(t);
        fake.apply(SECRETS, secret(data));
        await waitUntil(async () => (await watchErrors(t)) === before + 1, 2000, `${what}: counted as an error`);
        assert.equal((await decide(t, token)).verdict.allow, true, `${what}: last-known-good key still verifies`);
        assert.equal(
          (await decide(t, await idp.sign({}, { key: k2 }))).verdict.allow,
          false,
          `${what}: nothing from the bad update applied`,
        );
        assert.equal(t.app.ready, true, `${what}: still ready`);
        assert.equal(await readMetric(t.adminPort, 'zt_authz_jwks_keys', { issuer: ISSUER }), 1);
        const logged = t
          .records()
          .filter((r) => r.msg === 'JWKS Secret update rejected; keeping last-known-good keys' && r.trigger === 'watch')
          .at(-1);
        assert.match(String(logged?.error), why, what);
        assert.ok(String(logged?.error).startsWith(`JWKS Secret ${NS}/${NAME} key jwks.json: `));
      }
      assert.ok(!t.lines.join('\n').includes('AQAB'), 'the rejected private member is not logged');
      // A good update applies again.
      fake.apply(SECRETS, secret({ 'jwks.json': b64(jwksOf(k2)) }));
      await until(t, await idp.sign({}, { key: k2 }), (d) => d.verdict.allow, 1000, 'good update after bad ones');
    } finally {
      await t.stop();
      await idp.close();
      await fake.close();
    }
  },
);

test(
  'Secret deleted: keys kept, warning logged, counted; re-created Secret and dropped watch streams still update',
  { timeout: 20000 },
  async () => {
    const fake = await FakeApiServer.start();
    const { idp, k1, k2 } = await signer();
    fake.apply(SECRETS, secret({ 'jwks.json': b64(jwksOf(k1)) }));
    const t = await start(fake);
    try {
      await waitUntil(() => t.app.ready, 5000, 'ready');
      const token = await idp.sign({}, { key: k1 });
      const before = await watchErrors(t);
      fake.remove(SECRETS, NS, NAME);
      await waitUntil(async () => (await watchErrors(t)) === before + 1, 2000, 'deletion counted');
      assert.ok(
        t
          .records()
          .some(
            (r) =>
              r.level === 'warn' &&
              r.msg === 'JWKS Secret deleted; its issuers keep their last-known-good keys (to revoke a key, update the Secret)',
          ),
      );
      assert.ok(
        t
          .records()
          .some((r) => typeof r.error === 'string' && r.error.includes('the Secret was deleted; keeping the last-known-good keys')),
      );
      assert.equal(
        (await decide(t, await idp.sign({}, { key: k1 }))).verdict.allow,
        true,
        'last-known-good key still verifies a fresh token',
      );
      assert.equal((await decide(t, token)).verdict.allow, true);
      assert.equal(t.app.ready, true);

      fake.apply(SECRETS, secret({ 'jwks.json': b64(jwksOf(k2)) }));
      await until(t, await idp.sign({}, { key: k2 }), (d) => d.verdict.allow, 1000, 're-created Secret applies');
      assert.equal((await decide(t, token)).verdict.reason, 'token_unknown_key');

      // The watch stream is cut: the informer reconnects and the next update still arrives.
      const watches = fake.watchRequests(SECRETS);
      fake.dropWatches();
      await waitUntil(() => fake.watchRequests(SECRETS) > watches, 3000, 'watch re-established');
      fake.apply(SECRETS, secret({ 'jwks.json': b64(jwksOf(k1)) }));
      await until(t, token, (d) => d.verdict.allow, 2000, 'update after reconnect');
    } finally {
      await t.stop();
      await idp.close();
      await fake.close();
    }
  },
);

test(
  'reloads: a replaced key manager has the Secret keys at once; a new jwksSecret issuer starts its own narrowed watch',
  { timeout: 20000 },
  async () => {
    const fake = await FakeApiServer.start();
    const { idp, k1, k2 } = await signer();
    fake.apply(SECRETS, secret({ 'jwks.json': b64(jwksOf(k1)) }));
    const t = await start(fake);
    try {
      await waitUntil(() => t.app.ready, 5000, 'ready');
      const lists = fake.listRequests(SECRETS);
      const base = { kubernetes: t.config.kubernetes, policies: POLICIES, server: t.config.server, log: t.config.log };
      // A changed issuer (audiences) gets a new JWKS manager: it must hold the keys before its snapshot is published.
      assert.equal(t.app.reload(checkConfig({ ...base, issuers: [issuerConfig({ audiences: ['orders', 'billing'] })] }).config), true);
      assert.equal(t.app.ready, true, 'no not-ready gap after the reload');
      assert.equal((await decide(t, await idp.sign({ aud: 'billing' }, { key: k1 }))).verdict.allow, true);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(fake.listRequests(SECRETS), lists, 'the watch of the Secret was kept, not restarted');
      assert.deepEqual(t.app.kubernetes!.secrets.names, [`${NS}/${NAME}`]);

      // A second issuer from another Secret: watched from the reload on, not ready until it exists.
      const other = {
        issuer: 'https://other.secret.test',
        jwksSecret: { namespace: 'team', name: 'team-keys', key: 'keys' },
        audiences: ['orders'],
      };
      assert.equal(t.app.reload(checkConfig({ ...base, issuers: [issuerConfig(), other] }).config), true);
      await waitUntil(
        () =>
          fake.requests.some(
            (r) => r.watch && r.path === '/api/v1/namespaces/team/secrets' && r.query.fieldSelector === 'metadata.name=team-keys',
          ),
        3000,
        'watch on the new Secret',
      );
      assert.equal(t.app.ready, false, 'the new issuer has no keys yet');
      fake.apply(SECRETS, secret({ keys: b64(jwksOf(k2)) }, 'team-keys', 'team'));
      await waitUntil(() => t.app.ready, 2000, 'ready with both Secrets');
      const otherIdp = await TestIdp.start({ issuer: other.issuer, keys: [k2] });
      try {
        assert.equal((await decide(t, await otherIdp.sign({}, { key: k2 }))).verdict.allow, true);
        assert.equal(
          (await decide(t, await otherIdp.sign({}, { key: k1 }))).verdict.reason,
          'token_unknown_key',
          'each issuer only gets its own Secret',
        );
      } finally {
        await otherIdp.close();
      }
      // The second issuer removed again: its watch ends.
      assert.equal(t.app.reload(checkConfig({ ...base, issuers: [issuerConfig()] }).config), true);
      await waitUntil(() => t.app.kubernetes!.secrets.names.length === 1, 2000, 'unused Secret no longer watched');
    } finally {
      await t.stop();
      await idp.close();
      await fake.close();
    }
  },
);

test('a reload cannot add a jwksSecret issuer when Kubernetes was off at start (restart-only)', { timeout: 10000 }, async () => {
  const { idp, k1 } = await signer();
  const t = await startTestApp({ issuers: [{ issuer: ISSUER, jwks: { keys: [k1.jwk] }, audiences: ['orders'] }], policies: POLICIES });
  try {
    await waitUntil(() => t.app.ready, 5000, 'ready');
    const next = checkConfig({
      kubernetes: { enabled: true, apiServer: 'http://127.0.0.1:1' },
      issuers: [issuerConfig()],
      policies: POLICIES,
      server: t.config.server,
      log: t.config.log,
    }).config;
    assert.equal(t.app.reload(next), false, 'rejected');
    assert.ok(
      t
        .records()
        .some(
          (r) =>
            r.msg === 'reload rejected; keeping the last-known-good snapshot' &&
            JSON.stringify(r.problems).includes('jwksSecret needs kubernetes.enabled at start'),
        ),
    );
    assert.equal((await decide(t, await idp.sign({}, { key: k1 }))).verdict.allow, true, 'the running issuer keeps working');
  } finally {
    await t.stop();
    await idp.close();
  }
});

test('configuration: jwksSecret needs kubernetes.enabled, excludes other key sources, defaults the data key', () => {
  const problems = (raw: unknown): string[] => {
    try {
      checkConfig(raw);
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems.map((p) => `${p.path}: ${p.message}`);
    }
    return [];
  };
  const k8s = { enabled: true, apiServer: 'http://127.0.0.1:1' };
  assert.deepEqual(problems({ issuers: [issuerConfig()] }), [
    'issuers[0].jwksSecret: needs kubernetes.enabled: true (the Secret is watched through the Kubernetes API); or mount the Secret and use jwksFile',
  ]);
  assert.ok(
    problems({ kubernetes: { enabled: false }, issuers: [issuerConfig()] }).some((p) =>
      p.startsWith('issuers[0].jwksSecret: needs kubernetes.enabled'),
    ),
  );
  const two = problems({ kubernetes: k8s, issuers: [issuerConfig({ jwksUri: 'https://idp.example/jwks' })] });
  assert.deepEqual(two, [
    'issuers[0]: set only one of jwksUri, jwks, jwksFile, jwksSecret, discovery, kubernetes (found jwksUri, jwksSecret)',
  ]);
  assert.ok(
    problems({ kubernetes: k8s, issuers: [issuerConfig({ jwksFile: '/keys/jwks.json' })] })[0]!.includes('(found jwksFile, jwksSecret)'),
  );
  assert.ok(
    problems({ kubernetes: k8s, issuers: [{ kubernetes: true, jwksSecret: { name: 'x', namespace: 'y' } }] })[0]!.includes(
      '(found jwksSecret, kubernetes)',
    ),
  );
  assert.ok(
    problems({ kubernetes: k8s, issuers: [issuerConfig({ jwksSecret: { namespace: NS } })] }).includes(
      'issuers[0].jwksSecret.name: is required',
    ),
  );
  assert.ok(
    problems({ kubernetes: k8s, issuers: [issuerConfig({ jwksSecret: { namespace: NS, name: 'Bad_Name' } })] }).some((p) =>
      p.startsWith('issuers[0].jwksSecret.name: must be a Secret name'),
    ),
  );
  assert.ok(
    problems({ kubernetes: k8s, issuers: [issuerConfig({ jwksSecret: { namespace: NS, name: NAME, keys: 'x' } })] }).includes(
      'issuers[0].jwksSecret.keys: unknown field (check spelling)',
    ),
  );

  // No namespace: resolved at run time (the namespace zt-authz runs in), so `validate` works anywhere.
  const c = checkConfig({ kubernetes: k8s, issuers: [issuerConfig({ jwksSecret: { name: NAME } })] }).config;
  assert.deepEqual(c.issuers[0]!.keySource, { kind: 'secret', name: NAME, key: 'jwks.json' });
  const explicit = checkConfig({
    kubernetes: k8s,
    issuers: [issuerConfig({ jwksSecret: { namespace: NS, name: NAME, key: 'keys' } })],
  }).config;
  assert.deepEqual(explicit.issuers[0]!.keySource, { kind: 'secret', namespace: NS, name: NAME, key: 'keys' });
});

test(
  'jwksSecret without a namespace: the one zt-authz runs in (POD_NAMESPACE); unknown → start fails naming the field',
  { timeout: 20000 },
  async () => {
    const fake = await FakeApiServer.start();
    const { idp, k1 } = await signer();
    const saved = process.env.POD_NAMESPACE;
    try {
      delete process.env.POD_NAMESPACE;
      await assert.rejects(
        start(fake, [issuerConfig({ jwksSecret: { name: NAME } })]),
        /jwksSecret\.namespace is not set and the namespace zt-authz runs in is unknown/,
      );
      process.env.POD_NAMESPACE = NS;
      fake.apply(SECRETS, secret({ 'jwks.json': b64(jwksOf(k1)) }));
      const t = await start(fake, [issuerConfig({ jwksSecret: { name: NAME } })]);
      try {
        await waitUntil(() => t.app.ready, 5000, 'ready');
        assert.deepEqual(t.app.kubernetes!.secrets.names, [`${NS}/${NAME}`]);
        assert.equal((await decide(t, await idp.sign({}, { key: k1 }))).verdict.allow, true);
      } finally {
        await t.stop();
      }
    } finally {
      if (saved === undefined) delete process.env.POD_NAMESPACE;
      else process.env.POD_NAMESPACE = saved;
      await idp.close();
      await fake.close();
    }
  },
);

test('JwksManager with a pushed (secret) source and no feed: never ready, never fetches, fails closed', async () => {
  const events: string[] = [];
  const m = new JwksManager({
    issuer: ISSUER,
    source: { kind: 'secret', namespace: NS, name: NAME, key: 'jwks.json' },
    onFetch: (e) => events.push(`${e.trigger}:${e.result}`),
  });
  m.start();
  assert.equal(await m.refresh(), false);
  await assert.rejects(
    async () => m.getKey({ alg: 'RS256', kid: 'k1' }, { payload: '', signature: '' }),
    (err: unknown) => err instanceof JwksUnavailableError,
  );
  assert.equal(m.ready, false);
  assert.deepEqual(events, [], 'nothing fetched, nothing counted');
  m.stop();
});
