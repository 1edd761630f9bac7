// Real service-account tokens: TokenRequest tokens (audience-bound, as a projected volume gets
// them) from a real kube-apiserver, verified offline by the `kubernetes` issuer preset through the
// API server's own discovery document and /openid/v1/jwks (read with a ServiceAccount token, which
// the default system:service-account-issuer-discovery binding allows). Another audience and the
// API server's own audience are refused; a deleted ServiceAccount gets no new tokens, but one
// already minted stays valid offline until it expires (docs/kubernetes-helm.md "Service-account tokens as workload identity").
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { eventually, startKube, tokenRequest, type Obj } from './helpers/kube.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { checkRequest, type CheckRequestOptions } from '../helpers/grpc-client.js';
import { normalizeCheckRequest } from '../../src/transport/grpc/normalize.js';
import type { Decision } from '../../src/decision/decision.js';

const started = await startKube();
const skip = 'skip' in started ? started.skip : false;
const kube = 'skip' in started ? undefined! : started;

const POLICIES = [
  {
    name: 'orders-from-frontend',
    namespace: 'shop',
    selector: { matchLabels: { app: 'orders' } },
    rules: [{ from: [{ source: { serviceAccounts: ['shop/frontend'] } }], to: [{ operation: { paths: ['/orders'] } }] }],
  },
];
let app: TestApp | undefined;

async function decide(o: CheckRequestOptions = {}): Promise<Decision> {
  const req = checkRequest({ path: '/orders', contextExtensions: { namespace: 'shop', app: 'orders' }, ...o });
  return (await app!.app.decideRequest('test', (limits) => normalizeCheckRequest(req, limits))).decision;
}

const sa = (namespace: string, name: string): Obj => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } });

before(async () => {
  if (skip) return;
  for (const ns of ['zt-authz', 'shop'])
    await kube.ok('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  // No controller-manager: ServiceAccounts are created explicitly.
  for (const [ns, name] of [
    ['zt-authz', 'zt-authz'],
    ['shop', 'frontend'],
    ['shop', 'cart'],
  ] as const)
    await kube.ok('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, sa(ns, name));
  // zt-authz's own pod token (API server audience): what it presents to read the cluster's keys.
  const dir = kube.tmpDir;
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, await tokenRequest(kube, 'zt-authz', 'zt-authz', [kube.saIssuer]), { mode: 0o600 });
  app = await startTestApp({
    issuers: [{ kubernetes: { apiServer: kube.apiUrl, caFile: kube.caFile, tokenFile }, audiences: ['orders'] }],
    policies: POLICIES,
  });
});

after(async () => {
  await app?.stop();
  await kube?.stop();
});

test('TokenRequest tokens verify offline through /openid/v1/jwks; other audiences are refused', { skip, timeout: 60_000 }, async () => {
  await eventually(async () => app!.app.ready, 30_000, 'cluster keys loaded');
  // The discovery document is the API server's own: issuer as configured, jwks_uri on this server.
  const disco = await kube.ok<Obj>('GET', '/.well-known/openid-configuration');
  assert.equal(disco.issuer, 'https://kubernetes.default.svc.cluster.local');
  const jwks = await kube.ok<Obj>('GET', '/openid/v1/jwks', undefined, { accept: 'application/jwk-set+json' });
  assert.equal((jwks.keys as Obj[])[0]!.alg, 'RS256');

  const token = await tokenRequest(kube, 'shop', 'frontend', ['orders'], 600);
  const claims = decodeJwt(token) as Obj;
  assert.equal(claims.sub, 'system:serviceaccount:shop:frontend');
  assert.equal(claims['kubernetes.io'].serviceaccount.name, 'frontend');
  const ok = await decide({ token });
  assert.equal(ok.verdict.allow, true, `${ok.verdict.reason} ${ok.verdict.detail ?? ''}`);
  assert.equal(ok.evidence.identity?.subject, 'system:serviceaccount:shop:frontend');

  const other = await decide({ token: await tokenRequest(kube, 'shop', 'frontend', ['billing'], 600) });
  assert.equal(other.verdict.reason, 'audience_mismatch');
  assert.equal(other.verdict.status, 401);
  const apiAudience = await decide({ token: await tokenRequest(kube, 'shop', 'frontend', [kube.saIssuer], 600) });
  assert.equal(apiAudience.verdict.reason, 'audience_mismatch', "a token for the API server's audience (a pod's default token) is refused");
  const cart = await decide({ token: await tokenRequest(kube, 'shop', 'cart', ['orders'], 600) });
  assert.equal(cart.verdict.reason, 'no_policy_matched', 'another service account is another identity');
});

test(
  'a deleted ServiceAccount: no new tokens for it, but a token already minted verifies offline until exp',
  { skip, timeout: 60_000 },
  async () => {
    await eventually(async () => app!.app.ready, 30_000, 'cluster keys loaded');
    await kube.ok('POST', '/api/v1/namespaces/shop/serviceaccounts', sa('shop', 'leaver'));
    const token = await tokenRequest(kube, 'shop', 'leaver', ['orders'], 600);
    const review = await kube.ok<Obj>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token, audiences: ['orders'] },
    });
    assert.equal(review.status.authenticated, true);
    assert.equal((await decide({ token })).verdict.reason, 'no_policy_matched', 'verified (no policy names leaver)');

    await kube.ok('DELETE', '/api/v1/namespaces/shop/serviceaccounts/leaver');
    const again = await kube.api('POST', '/api/v1/namespaces/shop/serviceaccounts/leaver/token', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { audiences: ['orders'] },
    });
    assert.equal(again.status, 404, 'no new tokens for it');
    // zt-authz verifies offline (no TokenReview per request): the signature, issuer, audience and
    // exp still hold, so the token keeps its identity until it expires. docs/kubernetes-helm.md says so, and says to
    // keep expirationSeconds short.
    const d = await decide({ token });
    assert.equal(d.verdict.reason, 'no_policy_matched');
    assert.equal(d.evidence.identity?.subject, 'system:serviceaccount:shop:leaver');
  },
);
