// Stays on fakes: a discovery document with an unreachable jwks_uri, a wrong CA and token-file rotation are set up at will, and the fake API server counts every request (real TokenRequest tokens: test/integration/k8s-sa-token.test.ts).
// Kubernetes service-account tokens as workload identity: the `kubernetes` issuer preset reads a
// cluster-like OIDC discovery + JWKS (always HTTPS with its own CA, bearer token required, a
// jwks_uri that points at an unreachable external address, as real clusters publish), and
// projected-token shaped JWTs are verified offline: right audience accepted, wrong audience and
// foreign issuers rejected; `sub` system:serviceaccount:NS:SA feeds source.namespace /
// serviceAccounts. Also: a wrong CA never loads keys (jwks_unavailable), no API call per request,
// the pod token file is re-read (rotation), and the documented zt-authz.io/audience flow (docs/kubernetes-helm.md).
//
// The cluster is HTTPS only: the certificates come from the openssl CLI (test/helpers/certs.ts),
// and a machine without it fails these tests rather than quietly testing plain HTTP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { readMetric, startTestApp, waitUntil, type TestApp } from '../../helpers/app.js';
import { TestCa } from '../../helpers/certs.js';
import { FakeApiServer } from '../../helpers/fake-apiserver.js';
import { checkRequest, type CheckRequestOptions } from '../../helpers/grpc-client.js';
import { generateTestKey, TestIdp, type TestKey } from '../../helpers/idp.js';
import { normalizeCheckRequest } from '../../../src/transport/grpc/normalize.js';
import type { Decision } from '../../../src/decision/decision.js';

const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const CLUSTER_TOKEN = 'zt-authz-pod-sa-token';

interface Cluster {
  url: string;
  dir: string;
  /** The cluster CA bundle and the pod's token file, as mounted in a pod. */
  caFile: string;
  tokenFile: string;
  key: TestKey;
  /** Signing keys served at /openid/v1/jwks (mutable: key rotation). */
  keys: TestKey[];
  /** The bearer token the API server accepts (mutable: token rotation). */
  acceptedToken: string;
  requests: Array<{ path: string; auth: string | undefined }>;
  close(): Promise<void>;
}

async function startCluster(issuer = ISSUER): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'zt-authz-sa-'));
  const ca = new TestCa(join(dir, 'pki'), 'cluster-ca');
  const srv = ca.issue('server', 'kubernetes');
  writeFileSync(join(dir, 'ca.crt'), ca.cert);
  writeFileSync(join(dir, 'token'), `${CLUSTER_TOKEN}\n`);
  const key = await generateTestKey('sa-key-1', 'RS256');
  const c: Cluster = {
    url: '',
    dir,
    caFile: join(dir, 'ca.crt'),
    tokenFile: join(dir, 'token'),
    key,
    keys: [key],
    acceptedToken: CLUSTER_TOKEN,
    requests: [],
    close: async () => undefined,
  };
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    c.requests.push({ path: req.url ?? '', auth: req.headers.authorization });
    // Like an API server with the service-account-issuer-discovery role bound to service accounts.
    if (req.headers.authorization !== `Bearer ${c.acceptedToken}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"kind":"Status","code":401}');
      return;
    }
    const json = (body: unknown): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/.well-known/openid-configuration') {
      return json({
        issuer,
        jwks_uri: 'https://172.18.0.2:6443/openid/v1/jwks',
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (req.url === '/openid/v1/jwks') return json({ keys: c.keys.map((k) => k.jwk) });
    res.writeHead(404).end();
  };
  const server = createHttpsServer({ key: srv.key, cert: srv.cert }, handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  c.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  c.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  };
  return c;
}

function saToken(
  c: Cluster,
  o: { ns?: string; sa?: string; aud?: string | string[]; claimNs?: string; iss?: string; key?: TestKey } = {},
): Promise<string> {
  const ns = o.ns ?? 'shop';
  const sa = o.sa ?? 'frontend';
  const now = Math.floor(Date.now() / 1000);
  const key = o.key ?? c.key;
  return new SignJWT({
    aud: o.aud ?? ['orders'],
    'kubernetes.io': { namespace: o.claimNs ?? ns, pod: { name: `${sa}-7d9f`, uid: '0b5c' }, serviceaccount: { name: sa, uid: '9a1e' } },
  })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid })
    .setIssuer(o.iss ?? ISSUER)
    .setSubject(`system:serviceaccount:${ns}:${sa}`)
    .setJti(randomUUID()) // as Kubernetes ≥ 1.29 projected tokens carry
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + 600)
    .sign(key.privateKey);
}

async function decide(t: TestApp, o: CheckRequestOptions): Promise<Decision> {
  const req = checkRequest({ path: '/orders', contextExtensions: { namespace: 'shop', app: 'orders' }, ...o });
  return (await t.app.decideRequest('test', (limits) => normalizeCheckRequest(req, limits))).decision;
}

const POLICIES = [
  {
    name: 'orders-from-frontend',
    namespace: 'shop',
    selector: { matchLabels: { app: 'orders' } },
    rules: [{ from: [{ source: { serviceAccounts: ['shop/frontend'] } }], to: [{ operation: { paths: ['/orders'] } }] }],
  },
  {
    name: 'ns-when',
    namespace: 'shop',
    selector: { matchLabels: { app: 'orders' } },
    rules: [{ to: [{ operation: { paths: ['/ns'] } }], when: [{ key: 'source.namespace', values: ['web'] }] }],
  },
];

test(
  'projected service-account tokens: verified offline against the cluster JWKS; sub → source namespace/service account',
  { timeout: 20000 },
  async () => {
    const c = await startCluster();
    const other = await TestIdp.start({ audience: 'orders' });
    const k8s = { apiServer: c.url, caFile: c.caFile, tokenFile: c.tokenFile };
    const t = await startTestApp({
      issuers: [
        { kubernetes: k8s, audiences: ['orders'] },
        { issuer: other.issuer, jwksUri: other.jwksUri, audiences: ['orders'] },
      ],
      policies: POLICIES,
    });
    try {
      await waitUntil(() => t.app.ready, 5000, 'cluster keys loaded');
      assert.ok(
        c.requests.some((r) => r.path === '/.well-known/openid-configuration' && r.auth === `Bearer ${CLUSTER_TOKEN}`),
        'discovery with the pod token',
      );
      assert.ok(
        c.requests.some((r) => r.path === '/openid/v1/jwks'),
        "keys from the API server's own /openid/v1/jwks, not the external jwks_uri",
      );

      const ok = await decide(t, { token: await saToken(c) });
      assert.equal(ok.verdict.allow, true, `${ok.verdict.reason} ${ok.verdict.detail ?? ''}`);
      assert.equal(ok.evidence.identity?.subject, 'system:serviceaccount:shop:frontend');

      const wrongAud = await decide(t, { token: await saToken(c, { aud: 'https://kubernetes.default.svc.cluster.local' }) });
      assert.equal(wrongAud.verdict.reason, 'audience_mismatch', 'the default API-server token is not accepted');
      assert.equal(wrongAud.verdict.status, 401);

      assert.equal(
        (await decide(t, { token: await saToken(c, { sa: 'cart' }) })).verdict.reason,
        'no_policy_matched',
        'another service account',
      );
      assert.equal(
        (await decide(t, { token: await saToken(c, { ns: 'web', sa: 'x' }), path: '/ns' })).verdict.allow,
        true,
        'source.namespace from the token',
      );
      assert.equal(
        (await decide(t, { token: await saToken(c, { claimNs: 'billing' }) })).verdict.reason,
        'no_policy_matched',
        'kubernetes.io namespace must agree with sub',
      );

      const forged = await decide(t, { token: await saToken(c, { key: await generateTestKey('sa-key-1') }) });
      assert.equal(forged.verdict.reason, 'token_invalid_signature');

      // Another IdP minting the same sub is not a workload identity.
      const spoof = await other.sign({ sub: 'system:serviceaccount:shop:frontend' });
      const d = await decide(t, { token: spoof });
      assert.equal(d.verdict.allow, false);
      assert.equal(d.verdict.reason, 'no_policy_matched');

      // mTLS, when present, is the source identity; the token stays a request credential.
      assert.equal(
        (await decide(t, { token: await saToken(c), sourcePrincipal: 'spiffe://cluster.local/ns/shop/sa/cart' })).verdict.allow,
        false,
      );
    } finally {
      await t.stop();
      await c.close();
      await other.close();
    }
  },
);

test(
  'kubernetes issuer without audiences: tokens need a destination audience; a wrong issuer name is reported',
  { timeout: 20000 },
  async () => {
    const c = await startCluster();
    const k8s = { apiServer: c.url, caFile: c.caFile, tokenFile: c.tokenFile };
    const t = await startTestApp({ issuers: [{ kubernetes: k8s }], policies: POLICIES });
    const bad = await startTestApp({
      issuers: [{ issuer: 'https://kubernetes.default.svc', kubernetes: k8s }],
      policies: POLICIES,
      server: { readyTimeoutSeconds: 0.2 },
    });
    try {
      await waitUntil(() => t.app.ready, 5000, 'ready');
      const d = await decide(t, { token: await saToken(c) });
      assert.equal(d.verdict.reason, 'audience_mismatch');
      assert.match(d.verdict.detail!, /without an expected audience/);

      await waitUntil(
        () =>
          bad.records().some((r) => typeof r.error === 'string' && r.error.includes(`the cluster's service-account issuer is "${ISSUER}"`)),
        5000,
        'issuer mismatch logged',
      );
      assert.equal(bad.app.ready, false);
    } finally {
      await t.stop();
      await bad.stop();
      await c.close();
    }
  },
);

test('kubernetes issuer preset: config validation', async () => {
  const { checkConfig } = await import('../../../src/snapshot/checked-config.js');
  const { ConfigError } = await import('../../../src/config/problems.js');
  const cfg = checkConfig({ issuers: [{ kubernetes: true, audiences: ['orders'] }] }).config;
  assert.equal(cfg.issuers[0]!.issuer, ISSUER);
  assert.deepEqual(cfg.issuers[0]!.keySource, {
    kind: 'kubernetes',
    issuer: ISSUER,
    apiServer: 'https://kubernetes.default.svc',
    caFile: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
    tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
  });
  assert.equal(cfg.issuers[0]!.kubernetes, true);
  assert.throws(
    () => checkConfig({ issuers: [{ kubernetes: true, jwksUri: 'https://x/jwks' }] }).config,
    (e: unknown) => e instanceof ConfigError && /set only one of .*kubernetes/.test(e.message),
  );
  assert.throws(
    () => checkConfig({ issuers: [{ audiences: ['x'] }] }).config,
    (e: unknown) => e instanceof ConfigError && /issuers\[0\]\.issuer: is required/.test(e.message),
  );
  assert.throws(() => checkConfig({ issuers: [{ kubernetes: { apiServer: 'ftp://x' } }] }).config, ConfigError);
});

test(
  'the wrong CA bundle: the cluster keys never load, readiness stays false, tokens get jwks_unavailable',
  { timeout: 20000 },
  async () => {
    const c = await startCluster();
    const wrongCa = new TestCa(join(c.dir, 'other-pki'), 'not-the-cluster-ca');
    writeFileSync(join(c.dir, 'wrong-ca.crt'), wrongCa.cert);
    const t = await startTestApp({
      issuers: [{ kubernetes: { apiServer: c.url, caFile: join(c.dir, 'wrong-ca.crt'), tokenFile: c.tokenFile }, audiences: ['orders'] }],
      policies: POLICIES,
      server: { readyTimeoutSeconds: 0.2 },
    });
    try {
      await waitUntil(
        async () =>
          (await readMetric(t.adminPort, 'zt_authz_jwks_refresh_total', { issuer: ISSUER, result: 'error', trigger: 'initial' })) >= 1,
        5000,
        'failed fetch counted',
      );
      assert.equal(t.app.ready, false);
      const d = await decide(t, { token: await saToken(c) });
      assert.equal(d.verdict.allow, false);
      assert.equal(d.verdict.reason, 'jwks_unavailable', `${d.verdict.reason} ${d.verdict.detail ?? ''}`);
      assert.equal(d.verdict.status, 503);
      // TLS failed before any HTTP request: the pod token was never sent to an unverified server.
      assert.deepEqual(c.requests, []);
      assert.ok(
        t.records().some((r) => /UNABLE_TO_VERIFY_LEAF_SIGNATURE/.test(String(r.error))),
        'the certificate problem is logged',
      );
    } finally {
      await t.stop();
      await c.close();
    }
  },
);

test('the pod token file is re-read: after rotation the next fetch sends the new bearer token', { timeout: 20000 }, async () => {
  const c = await startCluster();
  const t = await startTestApp({
    issuers: [
      { kubernetes: { apiServer: c.url, caFile: c.caFile, tokenFile: c.tokenFile }, audiences: ['orders'], jwksCooldownSeconds: 1 },
    ],
    policies: POLICIES,
  });
  try {
    await waitUntil(() => t.app.ready, 5000, 'ready');
    assert.equal((await decide(t, { token: await saToken(c) })).verdict.allow, true);
    // The kubelet rotates the projected token (atomic rename) and the cluster rotates its signing
    // key; the old token is no longer accepted by the API server.
    const rotated = 'zt-authz-pod-sa-token-rotated';
    writeFileSync(join(c.dir, 'token.new'), `${rotated}\n`);
    renameSync(join(c.dir, 'token.new'), c.tokenFile);
    c.acceptedToken = rotated;
    const key2 = await generateTestKey('sa-key-2', 'RS256');
    c.keys.push(key2);
    const before = c.requests.length;
    // A token signed with the new key: unknown kid → refetch (once the 1 s cooldown has passed).
    const token = await saToken(c, { key: key2 });
    let d = await decide(t, { token });
    const end = Date.now() + 5000;
    while (!d.verdict.allow && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      d = await decide(t, { token });
    }
    assert.equal(d.verdict.allow, true, `${d.verdict.reason} ${d.verdict.detail ?? ''}`);
    const after = c.requests.slice(before);
    assert.ok(after.length >= 1);
    assert.deepEqual([...new Set(after.map((r) => r.auth))], [`Bearer ${rotated}`], 'every fetch after the rotation carries the new token');
  } finally {
    await t.stop();
    await c.close();
  }
});

test(
  'documented flow: kubernetes issuer without audiences + zt-authz.io/audience on the destination pod; no API call per request',
  { timeout: 20000 },
  async () => {
    const c = await startCluster();
    const fake = await FakeApiServer.start();
    const pod = (name: string, ip: string, annotations: Record<string, string>) => ({
      metadata: { name, namespace: 'shop', labels: { app: 'orders' }, annotations },
      spec: { serviceAccountName: 'orders' },
      status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
    });
    fake.apply('pods', pod('orders-1', '10.4.5.6', { 'zt-authz.io/audience': 'orders' }));
    fake.apply('pods', pod('orders-2', '10.4.5.7', {}));
    const t = await startTestApp({
      issuers: [{ kubernetes: { apiServer: c.url, caFile: c.caFile, tokenFile: c.tokenFile } }],
      policies: POLICIES,
      kubernetes: { enabled: true, apiServer: fake.url, backoffMinMs: 20 },
    });
    // The destination is known only by its pod IP, as when Envoy sends no namespace/labels.
    const to = (ip: string) => ({ destinationAddress: ip, contextExtensions: {} });
    try {
      await waitUntil(() => t.app.ready, 5000, 'ready');
      const ok = await decide(t, { ...to('10.4.5.6'), token: await saToken(c, { aud: 'orders' }) });
      assert.equal(ok.verdict.allow, true, `${ok.verdict.reason} ${ok.verdict.detail ?? ''}`);
      assert.equal(ok.verdict.policy, 'orders-from-frontend');
      const other = await decide(t, { ...to('10.4.5.6'), token: await saToken(c, { aud: 'payments' }) });
      assert.equal(other.verdict.reason, 'audience_mismatch');
      assert.match(other.verdict.detail!, /does not include orders/);
      const apiServerAud = await decide(t, { ...to('10.4.5.6'), token: await saToken(c, { aud: ISSUER }) });
      assert.equal(apiServerAud.verdict.reason, 'audience_mismatch', "a pod's default API-server token");
      const unannotated = await decide(t, { ...to('10.4.5.7'), token: await saToken(c, { aud: 'orders' }) });
      assert.equal(
        unannotated.verdict.reason,
        'audience_mismatch',
        'a destination without zt-authz.io/audience accepts no service-account token',
      );
      assert.match(unannotated.verdict.detail!, /without an expected audience/);

      // Offline verification: N decisions on N distinct tokens (each fully verified: cache misses)
      // make no request to the API server (no TokenReview) and no JWKS fetch.
      const N = 50;
      const clusterBefore = c.requests.length;
      const apiBefore = fake.requests.length;
      const missesBefore = await readMetric(t.adminPort, 'zt_authz_token_cache_misses_total');
      let allowed = 0;
      for (let i = 0; i < N; i++) {
        const d = await decide(t, {
          ...to('10.4.5.6'),
          token: await saToken(c, { aud: 'orders', sa: i % 2 ? 'frontend' : `w${i}`, ns: 'shop' }),
        });
        if (d.verdict.allow) allowed++;
      }
      assert.equal(allowed, N / 2, 'frontend allowed, the others not: the tokens were really evaluated');
      assert.equal((await readMetric(t.adminPort, 'zt_authz_token_cache_misses_total')) - missesBefore, N, 'every token fully verified');
      assert.equal(c.requests.length, clusterBefore, 'no JWKS/discovery fetch per request');
      assert.deepEqual(
        fake.requests.slice(apiBefore).filter((r) => !r.watch),
        [],
        'no API server call (TokenReview or other) per request',
      );
    } finally {
      await t.stop();
      await fake.close();
      await c.close();
    }
  },
);
