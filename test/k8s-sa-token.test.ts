// Kubernetes service-account tokens as workload identity: the `kubernetes` issuer preset reads a
// cluster-like OIDC discovery + JWKS (HTTPS with its own CA, bearer token required, a jwks_uri that
// points at an unreachable external address, as real clusters publish), and projected-token
// shaped JWTs are verified offline: right audience accepted, wrong audience and foreign issuers
// rejected; `sub` system:serviceaccount:NS:SA feeds source.namespace / serviceAccounts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { startTestApp, waitUntil, type TestApp } from './helpers/app.js';
import { checkRequest, type CheckRequestOptions } from './helpers/grpc-client.js';
import { generateTestKey, TestIdp, type TestKey } from './helpers/idp.js';
import { normalizeCheckRequest } from '../src/transport/grpc/normalize.js';
import type { Decision } from '../src/decision/types.js';

const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const CLUSTER_TOKEN = 'zt-authz-pod-sa-token';

interface Cluster {
  url: string;
  dir: string;
  key: TestKey;
  tls: boolean;
  requests: Array<{ path: string; auth: string | undefined }>;
  close(): Promise<void>;
}

/** CA + server certificate for 127.0.0.1 with the openssl CLI; undefined when it is missing. */
function makeCerts(dir: string): { ca: string; key: string; cert: string } | undefined {
  try {
    const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=zt-authz-test-ca');
    run('req', ...ec, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1');
    writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
    run('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.crt', '-days', '1', '-extfile', 'ext.cnf');
    return { ca: join(dir, 'ca.crt'), key: join(dir, 'srv.key'), cert: join(dir, 'srv.crt') };
  } catch {
    return undefined;
  }
}

async function startCluster(issuer = ISSUER): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'zt-authz-sa-'));
  writeFileSync(join(dir, 'token'), `${CLUSTER_TOKEN}\n`);
  const key = await generateTestKey('sa-key-1', 'RS256');
  const requests: Cluster['requests'] = [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    requests.push({ path: req.url ?? '', auth: req.headers.authorization });
    // Like an API server with the service-account-issuer-discovery role bound to service accounts.
    if (req.headers.authorization !== `Bearer ${CLUSTER_TOKEN}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"kind":"Status","code":401}');
      return;
    }
    const json = (body: unknown): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/.well-known/openid-configuration') {
      return json({ issuer, jwks_uri: 'https://172.18.0.2:6443/openid/v1/jwks', response_types_supported: ['id_token'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'] });
    }
    if (req.url === '/openid/v1/jwks') return json({ keys: [key.jwk] });
    res.writeHead(404).end();
  };
  const certs = makeCerts(dir);
  let server: Server;
  if (certs) {
    const { readFileSync } = await import('node:fs');
    server = createHttpsServer({ key: readFileSync(certs.key), cert: readFileSync(certs.cert) }, handler) as unknown as Server;
  } else {
    server = createHttpServer(handler);
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${certs ? 'https' : 'http'}://127.0.0.1:${port}`,
    dir,
    key,
    tls: certs !== undefined,
    requests,
    close: async () => {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function saToken(c: Cluster, o: { ns?: string; sa?: string; aud?: string | string[]; claimNs?: string; iss?: string; key?: TestKey } = {}): Promise<string> {
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
  { name: 'orders-from-frontend', namespace: 'shop', selector: { matchLabels: { app: 'orders' } }, rules: [{ from: [{ source: { serviceAccounts: ['shop/frontend'] } }], to: [{ operation: { paths: ['/orders'] } }] }] },
  { name: 'ns-when', namespace: 'shop', selector: { matchLabels: { app: 'orders' } }, rules: [{ to: [{ operation: { paths: ['/ns'] } }], when: [{ key: 'source.namespace', values: ['web'] }] }] },
];

test('projected service-account tokens: verified offline against the cluster JWKS; sub → source namespace/service account', { timeout: 20000 }, async () => {
  const c = await startCluster();
  const other = await TestIdp.start({ audience: 'orders' });
  const k8s = { apiServer: c.url, caFile: join(c.dir, 'ca.crt'), tokenFile: join(c.dir, 'token') };
  const t = await startTestApp({
    issuers: [
      { kubernetes: k8s, audiences: ['orders'] },
      { issuer: other.issuer, jwksUri: other.jwksUri },
    ],
    policies: POLICIES,
  });
  try {
    await waitUntil(() => t.app.ready, 5000, 'cluster keys loaded');
    if (c.tls) assert.ok(c.url.startsWith('https://'), 'fetched over TLS with the cluster CA');
    assert.ok(c.requests.some((r) => r.path === '/.well-known/openid-configuration' && r.auth === `Bearer ${CLUSTER_TOKEN}`), 'discovery with the pod token');
    assert.ok(c.requests.some((r) => r.path === '/openid/v1/jwks'), "keys from the API server's own /openid/v1/jwks, not the external jwks_uri");

    const ok = await decide(t, { token: await saToken(c) });
    assert.equal(ok.allow, true, `${ok.reason} ${ok.detail ?? ''}`);
    assert.equal(ok.identity?.subject, 'system:serviceaccount:shop:frontend');

    const wrongAud = await decide(t, { token: await saToken(c, { aud: 'https://kubernetes.default.svc.cluster.local' }) });
    assert.equal(wrongAud.reason, 'audience_mismatch', 'the default API-server token is not accepted');
    assert.equal(wrongAud.status, 401);

    assert.equal((await decide(t, { token: await saToken(c, { sa: 'cart' }) })).reason, 'no_policy_matched', 'another service account');
    assert.equal((await decide(t, { token: await saToken(c, { ns: 'web', sa: 'x' }), path: '/ns' })).allow, true, 'source.namespace from the token');
    assert.equal((await decide(t, { token: await saToken(c, { claimNs: 'billing' }) })).reason, 'no_policy_matched', 'kubernetes.io namespace must agree with sub');

    const forged = await decide(t, { token: await saToken(c, { key: await generateTestKey('sa-key-1') }) });
    assert.equal(forged.reason, 'token_invalid_signature');

    // Another IdP minting the same sub is not a workload identity.
    const spoof = await other.sign({ sub: 'system:serviceaccount:shop:frontend' });
    const d = await decide(t, { token: spoof });
    assert.equal(d.allow, false);
    assert.equal(d.reason, 'no_policy_matched');

    // mTLS, when present, is the source identity; the token stays a request credential.
    assert.equal((await decide(t, { token: await saToken(c), sourcePrincipal: 'spiffe://cluster.local/ns/shop/sa/cart' })).allow, false);
  } finally {
    await t.stop();
    await c.close();
    await other.close();
  }
});

test('kubernetes issuer without audiences: tokens need a destination audience; a wrong issuer name is reported', { timeout: 20000 }, async () => {
  const c = await startCluster();
  const k8s = { apiServer: c.url, caFile: join(c.dir, 'ca.crt'), tokenFile: join(c.dir, 'token') };
  const t = await startTestApp({ issuers: [{ kubernetes: k8s }], policies: POLICIES });
  const bad = await startTestApp({ issuers: [{ issuer: 'https://kubernetes.default.svc', kubernetes: k8s }], policies: POLICIES, server: { readyTimeoutSeconds: 0.2 } });
  try {
    await waitUntil(() => t.app.ready, 5000, 'ready');
    const d = await decide(t, { token: await saToken(c) });
    assert.equal(d.reason, 'audience_mismatch');
    assert.match(d.detail!, /without an expected audience/);

    await waitUntil(() => bad.records().some((r) => typeof r.error === 'string' && r.error.includes(`the cluster's service-account issuer is "${ISSUER}"`)), 5000, 'issuer mismatch logged');
    assert.equal(bad.app.ready, false);
  } finally {
    await t.stop();
    await bad.stop();
    await c.close();
  }
});

test('kubernetes issuer preset: config validation', async () => {
  const { resolveConfig, ConfigError } = await import('../src/config/load.js');
  const cfg = resolveConfig({ issuers: [{ kubernetes: true, audiences: ['orders'] }] });
  assert.equal(cfg.issuers[0]!.issuer, ISSUER);
  assert.deepEqual(cfg.issuers[0]!.keySource, { kind: 'kubernetes', issuer: ISSUER, apiServer: 'https://kubernetes.default.svc', caFile: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt', tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token' });
  assert.equal(cfg.issuers[0]!.kubernetes, true);
  assert.throws(() => resolveConfig({ issuers: [{ kubernetes: true, jwksUri: 'https://x/jwks' }] }), (e: unknown) => e instanceof ConfigError && /set only one of .*kubernetes/.test(e.message));
  assert.throws(() => resolveConfig({ issuers: [{ audiences: ['x'] }] }), (e: unknown) => e instanceof ConfigError && /issuers\[0\]\.issuer: is required/.test(e.message));
  assert.throws(() => resolveConfig({ issuers: [{ kubernetes: { apiServer: 'ftp://x' } }] }), ConfigError);
});
