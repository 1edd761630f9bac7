// A credential zt-authz is configured to strip must never be forwarded: only the v3 gRPC API can
// remove query parameters. Over v2 and in HTTP mode a token sent as a query parameter is denied
// (token_not_removable) instead of being verified, allowed and passed on to the upstream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApp, waitUntil, type TestApp } from '../../helpers/app.js';
import { TestIdp } from '../../helpers/idp.js';
import { authV2Client, authV3Client, check, checkRequest, closeAll } from '../../helpers/grpc-client.js';
import { send } from '../../e2e/helpers/http-client.js';

const POLICIES = [{ name: 'authn', rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] }];

async function withApp(
  idp: TestIdp,
  issuerExtra: Record<string, unknown>,
  extra: Record<string, unknown>,
  fn: (t: TestApp) => Promise<void>,
): Promise<void> {
  const t = await startTestApp({
    issuers: [
      {
        issuer: idp.issuer,
        jwksUri: idp.jwksUri,
        audiences: ['orders'],
        fromParams: ['access_token'],
        fromHeaders: [{ name: 'authorization', prefix: 'Bearer ' }],
        ...issuerExtra,
      },
    ],
    policies: POLICIES,
    ...extra,
  });
  try {
    await waitUntil(() => t.app.ready, 5000, 'ready');
    await fn(t);
  } finally {
    await t.stop();
  }
}

test('query-parameter credential: v3 removes it; v2 and HTTP mode deny it; forwardOriginalToken and observe mode let it through', async () => {
  const idp = await TestIdp.start();
  try {
    await withApp(idp, {}, {}, async (t) => {
      const token = await idp.sign();
      const v3 = authV3Client(t.grpcPort);
      const v2 = authV2Client(t.grpcPort);
      try {
        const r3 = await check(v3, checkRequest({ path: `/orders?x=1&access_token=${token}` }));
        assert.equal(r3.status?.code, 0);
        assert.deepEqual(r3.okResponse?.queryParametersToRemove, ['access_token']);
        const r2 = await check(v2, checkRequest({ path: `/orders?x=1&access_token=${token}` }));
        assert.equal(r2.status?.code, 16, 'v2 cannot remove the parameter: UNAUTHENTICATED');
        assert.ok([401, 'Unauthorized'].includes(r2.deniedResponse?.status?.code as never), 'HTTP 401 to the client');
        assert.ok(
          r2.deniedResponse?.headers?.some(
            (h) => h.header?.key === 'www-authenticate' && /error="invalid_request"/.test(h.header.value ?? ''),
          ),
        );
        // A header credential is fine over v2: headers can be blanked.
        assert.equal((await check(v2, checkRequest({ token }))).status?.code, 0);
      } finally {
        closeAll(v3, v2);
      }
      const http = await send(t.app.httpPort, { path: `/orders?access_token=${token}`, headers: [['host', 'orders.shop.svc']] });
      assert.equal(http.status, 401, 'Envoy http_service mode cannot remove it either');
      assert.match(http.headers['www-authenticate'] ?? '', /error="invalid_request"/);
      const nginx = await send(t.app.httpPort, {
        path: '/nginx-auth',
        headers: [
          ['host', 'orders.shop.svc'],
          ['x-original-method', 'GET'],
          ['x-original-uri', `/orders?access_token=${token}`],
        ],
      });
      assert.equal(nginx.status, 401, 'nginx auth_request mode');
      const reasons = t.audit().map((a) => a.reason);
      assert.equal(reasons.filter((r) => r === 'token_not_removable').length, 3, `audit records the answer sent: ${reasons.join(',')}`);
      assert.ok(!t.lines.some((l) => l.includes(token)), 'the token is never logged');
    });
    // The operator asked for the token upstream: nothing to remove, so nothing to deny.
    await withApp(idp, { forwardOriginalToken: true }, {}, async (t) => {
      const v2 = authV2Client(t.grpcPort);
      try {
        assert.equal((await check(v2, checkRequest({ path: `/orders?access_token=${await idp.sign()}` }))).status?.code, 0);
      } finally {
        closeAll(v2);
      }
    });
    // Observe mode never blocks: allowed, and the audit says what enforce mode would have done.
    await withApp(idp, {}, { mode: { default: 'observe' } }, async (t) => {
      const v2 = authV2Client(t.grpcPort);
      try {
        assert.equal((await check(v2, checkRequest({ path: `/orders?access_token=${await idp.sign()}` }))).status?.code, 0);
      } finally {
        closeAll(v2);
      }
    });
  } finally {
    await idp.close();
  }
});
