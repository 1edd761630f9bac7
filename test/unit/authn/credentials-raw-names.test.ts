// Credential parameter and cookie names are matched exactly as sent. Envoy removes query
// parameters by their raw name (`query_parameters_to_remove`) and the cookie rewrite drops exact
// names, so a credential under `access%5Ftoken` or `Access_Token` could never be removed, while
// an upstream that decodes names (or reads them ignoring case) takes it as the credential. Such a
// request is denied in enforce mode, and in observe mode the variant is stripped by its raw name.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { extractCredential, credentialLocations, type LocationSpec } from '../../../src/authn/credentials.js';
import type { CheckInput } from '../../../src/decision/types.js';
import { TestIdp } from '../../helpers/idp.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { authV3Client, check, checkRequest, closeAll, headerValue, type AuthClient } from '../../helpers/grpc-client.js';

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln';
const spec: LocationSpec = {
  headers: new Map([['authorization', ['Bearer ']]]),
  params: new Set(['access_token']),
  cookies: new Set(['session']),
};
function input(query: string, cookie?: string): CheckInput {
  return {
    requestId: '1',
    method: 'GET',
    host: 'h',
    path: '/',
    query,
    headers: cookie ? { cookie } : {},
    source: { labels: {} },
    destination: { labels: {} },
    contextExtensions: {},
  };
}

describe('credential names are matched as sent', () => {
  it('the exact name is accepted; encoded or case variants are a token_malformed deny, never anonymous', () => {
    assert.deepEqual(extractCredential(input(`access_token=${JWT}`), spec, 8192), {
      kind: 'one',
      token: JWT,
      location: { type: 'param', name: 'access_token' },
    });
    for (const q of [
      `access%5Ftoken=${JWT}`,
      `access%5ftoken=${JWT}`,
      `%61ccess_token=${JWT}`,
      `Access_Token=${JWT}`,
      `ACCESS%5FTOKEN=${JWT}`,
      `a=1&access%5Ftoken=${JWT}`,
    ]) {
      const r = extractCredential(input(q), spec, 8192);
      assert.equal(r.kind, 'error', q);
      assert.equal(r.kind === 'error' && r.reason, 'token_malformed', q);
      assert.ok(r.kind === 'error' && !r.detail.includes(JWT), 'the detail never carries the value');
    }
    for (const c of [`%73ession=${JWT}`, `Session=${JWT}`, `a=1; SESSION=${JWT}`]) {
      const r = extractCredential(input('', c), spec, 8192);
      assert.equal(r.kind === 'error' && r.reason, 'token_malformed', c);
    }
    // Unrelated names stay unrelated.
    assert.deepEqual(extractCredential(input('access_tokens=1&token=2&access-token=3'), spec, 8192), { kind: 'none' });
  });

  it('credentialLocations lists a variant by its raw name (what Envoy and the cookie rewrite compare)', () => {
    assert.deepEqual(credentialLocations(input(`access%5Ftoken=${JWT}`, `Session=${JWT}`), spec), [
      { type: 'param', name: 'access%5Ftoken' },
      { type: 'cookie', name: 'Session' },
    ]);
  });
});

describe('end to end over gRPC', () => {
  let idp: TestIdp;
  let t: TestApp;
  let client: AuthClient;
  let token: string;
  before(async () => {
    idp = await TestIdp.start({ audience: 'orders', subject: 'svc-a' });
    t = await startTestApp({
      issuers: [
        { issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: ['orders'], fromParams: ['access_token'], fromCookies: ['session'] },
      ],
      policies: [{ name: 'open', rules: [{ to: [{ operation: { paths: ['/x'] } }] }] }],
      mode: { default: 'enforce', namespaces: { watched: 'observe' } },
    });
    client = authV3Client(t.grpcPort);
    token = await idp.sign({});
  });
  after(async () => {
    closeAll(client);
    await t?.stop();
    await idp?.close();
  });

  it('enforce: ?access%5Ftoken=<JWT> is denied (it was accepted and the raw parameter reached the upstream)', async () => {
    const ok = await check(client, checkRequest({ path: `/x?access_token=${token}` }));
    assert.equal(ok.status?.code, 0);
    assert.deepEqual(ok.okResponse?.queryParametersToRemove, ['access_token']);
    for (const path of [`/x?access%5Ftoken=${token}`, `/x?Access_Token=${token}`]) {
      const r = await check(client, checkRequest({ path }));
      assert.notEqual(r.status?.code, 0, path);
      assert.equal(r.deniedResponse?.status?.code, 'Unauthorized' as never);
      assert.match(r.deniedResponse?.body ?? '', /token_malformed/);
    }
    const c = await check(client, checkRequest({ path: '/x', headers: { cookie: `a=1; %73ession=${token}` } }));
    assert.notEqual(c.status?.code, 0);
  });

  it('observe: the variant is allowed but removed by the name the proxy compares', async () => {
    const r = await check(client, checkRequest({ path: `/x?a=1&access%5Ftoken=${token}`, contextExtensions: { namespace: 'watched' } }));
    assert.equal(r.status?.code, 0);
    assert.deepEqual(r.okResponse?.queryParametersToRemove, ['access%5Ftoken']);
    const c = await check(
      client,
      checkRequest({ path: '/x', headers: { cookie: `a=1; Session=${token}` }, contextExtensions: { namespace: 'watched' } }),
    );
    assert.equal(c.status?.code, 0);
    assert.equal(headerValue(c.okResponse?.headers, 'cookie'), 'a=1');
  });
});
