// Least privilege across three workloads over real gRPC: ingress → frontend → orders → payments,
// identified by SPIFFE principals (mTLS) and end-user JWTs. Every allowed edge works; every other
// edge between the workloads is denied 403; missing JWTs on user-facing edges get 401.
import assert from 'node:assert/strict';
import { TestIdp } from '../../helpers/idp.js';
import { authV3Client, check, checkRequest, closeAll } from '../../helpers/grpc-client.js';
import { startTestApp, waitUntil, readMetric } from '../../helpers/app.js';
import { testGrpc } from '../../helpers/grpc-impls.js';
import type { CheckResponse } from '../../../src/transport/grpc/messages.js';

const TD = 'cluster.local';
const spiffe = (ns: string, sa: string) => `spiffe://${TD}/ns/${ns}/sa/${sa}`;
const WORKLOADS = {
  ingress: { ns: 'istio-system', sa: 'istio-ingressgateway', app: 'ingress' },
  frontend: { ns: 'shop', sa: 'frontend', app: 'frontend' },
  orders: { ns: 'shop', sa: 'orders', app: 'orders' },
  payments: { ns: 'shop', sa: 'payments', app: 'payments' },
} as const;
type W = keyof typeof WORKLOADS;

testGrpc('frontend → orders → payments: each allowed edge works, every other edge is denied', { timeout: 30000 }, async (impl) => {
  const idp = await TestIdp.start({ audience: 'shop' });
  const t = await startTestApp({
    server: { grpcImplementation: impl },
    issuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: ['shop'], algorithms: ['RS256', 'ES256'] }],
    policies: [
      {
        name: 'frontend-from-ingress',
        namespace: 'shop',
        selector: { matchLabels: { app: 'frontend' } },
        rules: [
          {
            from: [{ source: { principals: [`${TD}/ns/istio-system/sa/istio-ingressgateway`], requestPrincipals: [`${idp.issuer}/*`] } }],
            to: [{ operation: { methods: ['GET', 'POST'], paths: ['/', '/shop/{**}'] } }],
          },
        ],
      },
      {
        name: 'orders-from-frontend',
        namespace: 'shop',
        selector: { matchLabels: { app: 'orders' } },
        rules: [
          {
            from: [{ source: { principals: [`${TD}/ns/shop/sa/frontend`], requestPrincipals: [`${idp.issuer}/*`] } }],
            to: [{ operation: { methods: ['GET'], paths: ['/orders', '/orders/{*}'] } }],
            when: [{ key: 'request.auth.claims[scope]', values: ['orders:read'] }],
          },
        ],
      },
      {
        name: 'payments-from-orders',
        namespace: 'shop',
        selector: { matchLabels: { app: 'payments' } },
        rules: [
          { from: [{ source: { serviceAccounts: ['shop/orders'] } }], to: [{ operation: { methods: ['POST'], paths: ['/charges'] } }] },
        ],
      },
    ],
  });
  const client = authV3Client(t.grpcPort);
  try {
    await waitUntil(() => t.app.ready, 5000, 'ready');
    const userToken = await idp.sign({ sub: 'alice', scope: 'orders:read' });
    const call = (from: W, to: W, o: { method?: string; path?: string; token?: string } = {}): Promise<CheckResponse> => {
      const src = WORKLOADS[from];
      const dst = WORKLOADS[to];
      return check(
        client,
        checkRequest({
          method: o.method ?? 'GET',
          path: o.path ?? '/',
          host: `${dst.app}.${dst.ns}.svc.cluster.local`,
          sourcePrincipal: spiffe(src.ns, src.sa),
          destinationPrincipal: spiffe(dst.ns, dst.sa),
          contextExtensions: { app: dst.app },
          ...(o.token ? { token: o.token } : {}),
        }),
      );
    };
    const outcome = (r: CheckResponse) => (r.status?.code === 0 ? 'allow' : JSON.parse(r.deniedResponse?.body ?? '{}').error);

    // The three allowed edges, each with exactly what it needs.
    assert.equal(outcome(await call('ingress', 'frontend', { path: '/shop/cart', token: userToken })), 'allow');
    assert.equal(outcome(await call('frontend', 'orders', { path: '/orders/42', token: userToken })), 'allow');
    assert.equal(outcome(await call('orders', 'payments', { method: 'POST', path: '/charges' })), 'allow');

    // Every other (source, destination) pair is denied, with and without the user's token.
    const allowed = new Set(['ingress>frontend', 'frontend>orders', 'orders>payments']);
    const names = Object.keys(WORKLOADS) as W[];
    let denied = 0;
    for (const from of names) {
      for (const to of names) {
        if (from === to || to === 'ingress' || allowed.has(`${from}>${to}`)) continue;
        for (const req of [
          { path: '/shop/cart', token: userToken },
          { path: '/orders/42', token: userToken },
          { method: 'POST', path: '/charges', token: userToken },
          { method: 'POST', path: '/charges' },
        ]) {
          const r = await call(from, to, req);
          const why = outcome(r);
          assert.notEqual(why, 'allow', `${from} → ${to} ${req.method ?? 'GET'} ${req.path} must be denied`);
          // With a valid token the caller is known and simply not allowed: 403. Without one, a JWT
          // would not help either (the source workload is wrong), so also 403 — never a 401 hint.
          assert.equal(r.deniedResponse?.status?.code, 'Forbidden', `${from} → ${to} ${req.path}: ${why}`);
          denied++;
        }
      }
    }
    assert.equal(denied, 4 * (4 * 3 - 3 - 3), 'every non-edge pair was tried'); // 12 pairs minus 3 into ingress minus 3 allowed = 6

    // Right edge, wrong operation or missing credentials.
    assert.equal(
      outcome(await call('frontend', 'orders', { method: 'DELETE', path: '/orders/42', token: userToken })),
      'no_policy_matched',
    );
    assert.equal(outcome(await call('frontend', 'orders', { path: '/orders/42' })), 'token_missing');
    assert.equal(
      outcome(await call('frontend', 'orders', { path: '/orders/42', token: await idp.sign({ sub: 'bob', scope: 'profile' }) })),
      'insufficient_scope',
    );
    assert.equal(outcome(await call('orders', 'payments', { method: 'POST', path: '/refunds' })), 'no_policy_matched');
    assert.ok(
      (await readMetric(t.adminPort, 'zt_authz_decisions_total', {
        decision: 'allow',
        reason: 'allowed',
        policy: 'orders-from-frontend',
      })) >= 1,
    );
  } finally {
    closeAll(client);
    await t.stop();
    await idp.close();
  }
});
