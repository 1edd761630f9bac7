// A reload that makes policies (or audit) read a claim nothing read before must give the new
// snapshot an authenticator that keeps that claim: the verified-token projection drops unread
// claims, so reusing the old authenticator would make a new DENY on that claim never match.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApp, waitUntil } from '../../helpers/app.js';
import { TestIdp } from '../../helpers/idp.js';
import { checkRequest } from '../../helpers/grpc-client.js';
import { normalizeCheckRequest } from '../../../src/transport/grpc/normalize.js';
import { resolveConfig } from '../../../src/config/resolve.js';

test('reload adding a DENY on a new claim: enforced for cached and fresh tokens; audit.claims reload records the claim', async () => {
  const idp = await TestIdp.start();
  const issuers = [{ issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: ['orders'] }];
  const allow = { name: 'allow-authn', rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] };
  const t = await startTestApp({ issuers, policies: [allow] });
  try {
    await waitUntil(() => t.app.ready, 5000, 'ready');
    const decide = async (token: string, requestId?: string) =>
      (await t.app.decideRequest('test', (l) => normalizeCheckRequest(checkRequest({ token, ...(requestId ? { requestId } : {}) }), l)))
        .decision;
    const cached = await idp.sign({ group: 'evil', sub: 'mallory' });
    assert.equal((await decide(cached)).verdict.allow, true, 'allowed before the DENY exists (and now cached)');
    assert.equal((await decide(cached)).verdict.allow, true);

    const deny = { name: 'deny-evil', action: 'DENY', rules: [{ when: [{ key: 'request.auth.claims[group]', values: ['evil'] }] }] };
    assert.equal(t.app.reload({ ...t.config, policies: resolveConfig({ issuers, policies: [allow, deny] }).policies }), true);
    const fresh = await idp.sign({ group: 'evil', sub: 'eve' });
    for (const [what, token] of [
      ['cached', cached],
      ['fresh', fresh],
    ] as const) {
      const d = await decide(token);
      assert.equal(d.verdict.allow, false, `${what} token with group=evil after the reload`);
      assert.equal(d.verdict.reason, 'policy_denied');
      assert.equal(d.verdict.policy, 'deny-evil');
    }
    assert.equal((await decide(await idp.sign({ group: 'good' }))).verdict.allow, true, 'others still allowed');

    // audit.claims is hot-reloaded too: a newly listed claim is recorded from the next decision.
    const withDeny = { ...t.config, policies: resolveConfig({ issuers, policies: [allow, deny] }).policies };
    assert.equal(t.app.reload({ ...withDeny, audit: { ...withDeny.audit, claims: [...withDeny.audit.claims, 'tenant'] } }), true);
    await decide(await idp.sign({ tenant: 'acme' }), 'tenant-1');
    const rec = t.audit().find((a) => a.request_id === 'tenant-1') as { auth?: { claims?: Record<string, unknown> } } | undefined;
    assert.equal(rec?.auth?.claims?.tenant, 'acme');
  } finally {
    await t.stop();
    await idp.close();
  }
});
