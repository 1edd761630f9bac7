// Observe mode lets through requests refused only for their path's shape (non-canonical, path
// parameters, encoded slash or control character, '#'): they used to get 400 there, although
// observe mode promises every request goes through so a live cluster can be watched before
// enforcing. They are recorded as would-be malformed_request denies; credentials are verified and
// stripped and client identity headers removed as for any observed request. Enforce mode, and
// requests with no usable shape at all (bad method, limits), still get the deny.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestIdp } from '../../helpers/idp.js';
import { fetchMetrics, metricValue, startTestApp, type TestApp } from '../../helpers/app.js';
import { authV3Client, check, checkRequest, closeAll, headerValue, type AuthClient } from '../../helpers/grpc-client.js';
import { send } from '../../e2e/helpers/http-client.js';

describe('observe mode and paths enforce mode refuses', () => {
  let idp: TestIdp;
  let t: TestApp;
  let client: AuthClient;
  let token: string;
  before(async () => {
    idp = await TestIdp.start({ audience: 'orders', subject: 'svc-a' });
    t = await startTestApp({
      issuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: ['orders'] }],
      policies: [
        { name: 'orders', rules: [{ from: [{ source: { requestPrincipals: ['*'] } }], to: [{ operation: { paths: ['/orders/*'] } }] }] },
      ],
      mode: { default: 'observe', namespaces: { strict: 'enforce' } },
    });
    client = authV3Client(t.grpcPort);
    token = await idp.sign({});
  });
  after(async () => {
    closeAll(client);
    await t?.stop();
    await idp?.close();
  });

  it('gRPC: non-canonical, ;-parameter, encoded-control and encoded-slash paths are allowed as observed, credential stripped', async () => {
    for (const path of ['/orders/../admin', '//orders/1', '/orders;jsessionid=1/x', '/orders/1%0a', '/a%2Fb?access_token=q']) {
      const r = await check(
        client,
        checkRequest({ path, token, headers: { 'x-auth-subject': 'forged' }, contextExtensions: { namespace: 'shop' } }),
      );
      assert.equal(r.status?.code, 0, path);
      assert.equal(headerValue(r.okResponse?.headers, 'x-auth-subject'), 'svc-a', `${path}: verified identity upstream`);
      assert.ok(r.okResponse?.headersToRemove?.includes('authorization'), `${path}: credential stripped`);
    }
    const forged = await check(
      client,
      checkRequest({ path: '/orders/../admin', token: `${token.slice(0, -4)}AAAA`, contextExtensions: { namespace: 'shop' } }),
    );
    assert.equal(forged.status?.code, 0);
    assert.ok(forged.okResponse?.headersToRemove?.includes('authorization'), 'an unverified credential is stripped too');
    assert.ok(forged.okResponse?.headersToRemove?.includes('x-auth-subject'), 'client identity headers removed');
  });

  it('audit and metrics record the would-be malformed_request deny (path as sent, no query)', async () => {
    const rec = t.audit().find((a) => a.path === '/orders/../admin' && a.decision === 'allow');
    assert.ok(rec, 'audited');
    assert.equal(rec.reason, 'observed');
    assert.equal((rec.would_decide as { reason: string }).reason, 'malformed_request');
    assert.ok(!JSON.stringify(t.audit()).includes('access_token=q'), 'the query is never recorded');
    const m = await fetchMetrics(t.adminPort);
    assert.ok(metricValue(m, 'zt_authz_decisions_total', { decision: 'would_deny', reason: 'malformed_request', policy: '' }) >= 6);
  });

  it('the audit record keeps no ;-parameter (a session id) of a path observe mode lets through', async () => {
    const secret = 'S3SS10N7F3A9C0D1E2B4A5F6C7D8E9F0';
    for (const path of [
      `/account;jsessionid=${secret}/profile?x=1`,
      `/account%3Bjsessionid=${secret}/profile`,
      `/account;jsessionid=${secret}#frag`,
      `/a/../account;jsessionid=${secret};v=1/profile;x=${secret}`,
    ]) {
      const r = await check(client, checkRequest({ path, contextExtensions: { namespace: 'shop' } }));
      assert.equal(r.status?.code, 0, path);
    }
    const recs = t.audit().filter((a) => typeof a.path === 'string' && a.path.includes('account'));
    assert.deepEqual(
      recs.map((a) => a.path),
      ['/account/profile', '/account/profile', '/account', '/a/../account/profile'],
    );
    assert.ok(!JSON.stringify(t.audit()).includes(secret), 'the path parameter is never recorded');
  });

  it('enforce mode still answers the malformed_request deny', async () => {
    const r = await check(client, checkRequest({ path: '/orders/../admin', token, contextExtensions: { namespace: 'strict' } }));
    assert.notEqual(r.status?.code, 0);
    assert.match(r.deniedResponse?.body ?? '', /malformed_request/);
  });

  it('a request with no usable shape is denied in observe mode too (invalid method, no path)', async () => {
    for (const o of [{ method: 'GE T' }, { path: 'relative' }]) {
      const r = await check(client, checkRequest({ ...o, contextExtensions: { namespace: 'shop' } }));
      assert.notEqual(r.status?.code, 0, JSON.stringify(o));
    }
  });

  it('HTTP (nginx): a non-canonical X-Original-URI is allowed in observe mode', async () => {
    const r = await send(t.app.httpPort, {
      path: '/nginx-auth',
      headers: [
        ['host', 'h'],
        ['x-original-uri', '/orders/../admin'],
        ['x-original-method', 'GET'],
        ['authorization', `Bearer ${token}`],
      ],
    });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-auth-subject'], 'svc-a');
  });
});
